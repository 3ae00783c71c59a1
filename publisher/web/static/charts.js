// The charts page: fetch the window's series as JSON, draw each chart with uPlot, write
// its numbers into a table (keyboard and screen-reader users read those), and fetch again
// every few seconds (setData, no reload). Served as a file: the CSP forbids inline script.
(function () {
  "use strict";

  const root = document.getElementById("charts");
  if (!root || !root.dataset.src || typeof uPlot === "undefined") {
    return;
  }
  const source = root.dataset.src;
  const every = Number(root.dataset.refresh) || 10000;
  const status = document.getElementById("charts-status");
  const problem = document.getElementById("charts-problem");
  // Okabe-Ito: told apart by most colour-blind eyes; each series also has its own dash.
  const COLOURS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442"];
  const DASHES = [[], [8, 4], [2, 3], [10, 3, 2, 3], [4, 4], [1, 4], [12, 6]];
  const plots = new Map(); // chart key -> {labels, plot}
  let latest = null; // the last data drawn: its window is every chart's x range

  function height() {
    return window.matchMedia("(max-width: 40rem)").matches ? 200 : 260;
  }

  function options(chart, width) {
    return {
      width: width,
      height: height(),
      // From 0 (or below), with a tenth of headroom so the highest point is not cut.
      scales: {x: {time: true, range: () => [latest.start, latest.end]}, y: {range: (u, min, max) => [Math.min(0, min), Math.max(1, max) * 1.1]}},
      axes: [{}, {label: chart.unit, size: 56}],
      series: [{label: "time"}].concat(chart.series.map((series, i) => ({
        label: series.label,
        stroke: COLOURS[i % COLOURS.length],
        dash: DASHES[i % DASHES.length],
        width: 2,
        // Points where a line cannot join them (percentiles have gaps); lines alone else.
        points: {
          show: series.values.some((value) => value === null),
          size: 7,
          fill: COLOURS[i % COLOURS.length],
        },
      }))),
    };
  }

  function cell(tag, text, label) {
    const element = document.createElement(tag);
    element.textContent = text;
    if (label !== undefined) {
      element.dataset.label = label;
    }
    return element;
  }

  function table(chart, xs) {
    const head = document.createElement("tr");
    head.append(cell("th", "bucket start"));
    chart.series.forEach((series) => head.append(cell("th", series.label)));
    head.querySelectorAll("th").forEach((th) => th.setAttribute("scope", "col"));
    const body = document.createElement("tbody");
    xs.forEach((x, row) => {
      const values = chart.series.map((series) => series.values[row]);
      if (values.every((value) => value === null || value === 0)) {
        return; // an empty bucket: the chart shows it, the table skips it
      }
      const line = document.createElement("tr");
      line.append(cell("th", new Date(x * 1000).toLocaleString()));
      line.firstChild.setAttribute("scope", "row");
      chart.series.forEach((series, i) => {
        const value = values[i];
        line.append(cell("td", value === null ? "" : String(value), series.label));
      });
      body.append(line);
    });
    const built = document.createElement("table");
    built.append(cell("caption", chart.title + " (" + chart.unit + ")"));
    const thead = document.createElement("thead");
    thead.append(head);
    built.append(thead, body);
    document.getElementById("table-" + chart.key).replaceChildren(built);
  }

  function draw(data) {
    latest = data;
    data.charts.forEach((chart) => {
      const box = document.getElementById("plot-" + chart.key);
      const aligned = [data.x].concat(chart.series.map((series) => series.values));
      const labels = chart.series.map((series) => series.label).join("\n");
      const known = plots.get(chart.key);
      if (known && known.labels === labels) {
        known.plot.setData(aligned);
      } else {
        if (known) {
          known.plot.destroy();
        }
        const plot = new uPlot(options(chart, box.clientWidth), aligned, box);
        plots.set(chart.key, {labels: labels, plot: plot});
      }
      table(chart, data.x);
    });
    root.dataset.window = data.window;
    root.dataset.updates = String(Number(root.dataset.updates || 0) + 1);
  }

  function refused(text) {
    problem.textContent = text;
    problem.hidden = false;
  }

  async function refresh() {
    try {
      const answer = await fetch(source, {headers: {Accept: "application/json"}});
      if (answer.redirected) {
        refused("Your session ended: reload the page to log in again.");
        return; // no more fetches: each would land on the login page
      }
      if (!answer.ok) {
        const body = await answer.json().catch(() => ({}));
        refused("The charts could not be updated: " + (body.message || answer.status));
      } else {
        draw(await answer.json());
        problem.hidden = true;
        status.textContent = "Updated at " + new Date().toLocaleTimeString() + ".";
      }
    } catch (error) {
      refused("The charts could not be updated: " + error.message);
    }
    window.setTimeout(refresh, every);
  }

  let width = root.clientWidth;
  new ResizeObserver(() => {
    if (root.clientWidth === width) {
      return; // only a new width resizes: a chart's own height must not loop back here
    }
    width = root.clientWidth;
    plots.forEach((entry, key) => {
      const box = document.getElementById("plot-" + key);
      entry.plot.setSize({width: box.clientWidth, height: height()});
    });
  }).observe(root);

  refresh();
})();
