"""How a post's page shows its timeline: each call's request and response as text (JSON
bodies indented), a long one collapsed, lookups marked as lookups; times in UTC.

Pure functions over what ``core.dashboard.timeline`` read. The call log was redacted
when it was written (``engine/call_log``); nothing here adds anything to it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from publisher.core.constants import LOOKUP_METHOD
from publisher.core.dashboard.timeline import Entry, Timeline
from publisher.core.models import ApiCall

# A request or response up to this many characters is shown open; a longer one (a media
# upload's bytes, a page of statuses) is collapsed, opened on demand.
SHORT_TEXT = 600
# Digits of the page's fingerprint: enough to tell two versions of one post's page apart.
FINGERPRINT_DIGITS = 16


@dataclass(frozen=True)
class Exchange:
    """One side of a call (request or response) as the page prints it."""

    text: str  # headers, a blank line, the body
    short: bool  # shown open


@dataclass(frozen=True)
class EntryView:
    entry: Entry
    lookup: bool  # a call that looked the post up rather than created it
    request: Exchange | None
    response: Exchange | None


def when(at: datetime | None) -> str:
    """A time as the page prints it: UTC, to the second (empty for none)."""
    return "" if at is None else at.strftime("%Y-%m-%d %H:%M:%S UTC")


def _body(raw: str | None) -> str:
    if not raw:
        return ""
    try:
        return json.dumps(json.loads(raw), indent=2, ensure_ascii=False)
    except ValueError:
        return raw


def _exchange(headers: Mapping[str, Any], body: str | None) -> Exchange | None:
    lines = [f"{name}: {value}" for name, value in headers.items()]
    shown = _body(body)
    if shown:
        lines += ["", shown] if lines else [shown]
    if not lines:
        return None
    text = "\n".join(lines)
    return Exchange(text, len(text) <= SHORT_TEXT)


def _call(entry: Entry, call: ApiCall) -> EntryView:
    return EntryView(
        entry,
        lookup=call.method == LOOKUP_METHOD,
        request=_exchange(call.request_headers or {}, call.request_body),
        response=_exchange(call.response_headers or {}, call.response_body),
    )


def entries(found: Timeline) -> tuple[EntryView, ...]:
    """The timeline's entries, oldest first, with each call's sides ready to print."""
    return tuple(
        EntryView(e, False, None, None) if e.call is None else _call(e, e.call)
        for e in found.entries
    )


def fingerprint(found: Timeline) -> str:
    """Changes whenever anything the page shows about the post's progress changes (a new
    event, a call finishing, a step confirmed, a notification): a live page asks with it
    and is answered "nothing new" while it holds."""
    facts = [found.state, len(found.steps), len(found.notifications)]
    for entry in found.entries:
        if entry.call is not None:
            facts.append(f"c{entry.call.id}:{entry.call.category}")
        elif entry.event is not None:
            facts.append(f"e{entry.event.id}")
    digest = hashlib.sha256(repr(facts).encode()).hexdigest()
    return digest[:FINGERPRINT_DIGITS]
