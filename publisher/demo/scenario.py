"""The demo's scenario: accounts, credentials, and the kinds of post it approves, each with
the final state it must reach (``publisher demo`` checks every post against it)."""

from __future__ import annotations

from dataclasses import dataclass

from publisher.demo.view import DONE, UNCONFIRMED

ACCOUNTS = {"Acme": "active", "Globex": "active", "Initech": "past_due"}
# The networks Acme publishes to (each a stand-in of the sandbox), in the plain posts' order.
NETWORKS = ("mastodon", "x", "webhook", "linkedin", "facebook", "telegram", "discord")
CREDENTIALS: tuple[tuple[str, str], ...] = (
    *(("Acme", provider) for provider in NETWORKS),
    ("Globex", "mastodon"),
    ("Initech", "mastodon"),
)
REVOKED = frozenset({"Globex"})  # its token is in the sandbox's invalid set


@dataclass(frozen=True)
class Case:
    """One kind of post in the scenario and the final state it must reach."""

    kind: str
    account: str = "Acme"
    provider: str = "mastodon"
    faults: str = ""  # the sandbox's scripted faults, e.g. "503,ok"
    expected: str = DONE  # "done", "cancelled:<reason>" or "draft:gave_up"
    parts: int = 1  # more: a thread (the faults apply to its first part)
    images: int = 0  # images uploaded with POST /v1/media and attached (to its first part)

    def text(self, index: int) -> str:
        marker = f" [[fault:{self.faults}]]" if self.faults else ""
        return f"Demo post #{index + 1:03d}: {self.kind}{marker}"

    def content(self, index: int) -> dict[str, object]:
        """The post's content as the HTTP API takes it: ``text``, or a thread's ``parts``."""
        if self.parts == 1:
            return {"text": self.text(index)}
        texts = [self.text(index)] + [
            f"Demo post #{index + 1:03d}, part {n}/{self.parts}" for n in range(2, self.parts + 1)
        ]
        return {"parts": [{"text": text} for text in texts]}

    @property
    def reported(self) -> bool:
        """Whether it makes a Sentry event: an unclassified answer, or the give-up's error."""
        return "x_code" in self.faults or "malformed" in self.faults or "gave_up" in self.expected


PLAIN = tuple(Case(f"plain {p}", provider=p) for p in NETWORKS)
# Most interesting first: a small --posts still covers the main guarantees.
SPECIALS = (
    Case("slow answer: times out, yet lands once", faults="slow,ok"),
    Case("503 then ok", faults="503,ok"),
    Case("503 every time: gives up", faults="503,503,503,503,503,503", expected="draft:gave_up"),
    Case("revoked token", account="Globex", expected="cancelled:unauthorized"),
    Case("billing past due", account="Initech", expected="cancelled:billing_inactive"),
    Case("403: refused", faults="403", expected="cancelled:forbidden"),
    Case("unknown X error code", provider="x", faults="x_code:999,ok"),
    Case("429 then ok", faults="429,ok"),
    Case("connection reset then ok", provider="webhook", faults="reset,ok"),
    Case("malformed 200 then ok", faults="malformed,ok"),
    Case("422: refused", faults="422", expected="cancelled:forbidden"),
    Case("500 then ok", provider="webhook", faults="500,ok"),
    Case("slow answer on X", provider="x", faults="slow,ok"),
    Case("a thread of 3 on Mastodon, its first part slow: lands once", parts=3, faults="slow,ok"),
    Case("a thread of 3 on X", provider="x", parts=3),
    Case("two images with alt text on Mastodon", images=2),
    Case("an image on X", provider="x", images=1),
    Case("revoked token", account="Globex", expected="cancelled:unauthorized"),
    Case(
        "LinkedIn: slow answer, found by lookup: lands once", provider="linkedin", faults="slow,ok"
    ),
    Case(
        "Telegram: slow answer: unconfirmed, never sent twice",
        provider="telegram",
        faults="slow,ok",
        expected=f"draft:{UNCONFIRMED}",
    ),
    Case("Facebook: 503 then ok", provider="facebook", faults="503,ok"),
    Case("a thread of 3 on Telegram", provider="telegram", parts=3),
    Case("Discord: 429 then ok", provider="discord", faults="429,ok"),
    Case("an image on LinkedIn", provider="linkedin", images=1),
)


def plan(total: int) -> list[Case]:
    """``total`` cases: plain ones, with the specials spread evenly (at most every other)."""
    cases = [PLAIN[i % len(PLAIN)] for i in range(total)]
    specials = min(len(SPECIALS), total // 2)
    for j in range(specials):
        cases[(2 * j + 1) * total // (2 * specials)] = SPECIALS[j]
    return cases
