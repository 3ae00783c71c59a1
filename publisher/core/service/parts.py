"""A post's content: one text, or the parts of a thread, each with its media.

The main app sends either ``text`` (and optional ``media``) or ``parts`` (every part in
order, each ``{"text", "media"}``), never both. Each part is checked as its network counts
it, and each part's media against the provider's limits, before anything is written; the
refusal names the part (``parts[2].text``). Stored: ``posts.text`` is part 1's text (what
lookups and listings show), ``posts.parts`` every part with its checked media, or None for
a one-part post without media.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session

from publisher.core.models import Credential
from publisher.core.service.checks import check_text, storable
from publisher.errors import InvalidInput
from publisher.providers import get_provider

# The most parts a thread may have: a longer "thread" is surely a mistake (a loop in the
# main app), and each part is a request with its own rate-limit cost.
MAX_PARTS = 25

MediaRefs = Sequence[Mapping[str, Any]]


def content(
    session: Session,
    credential: Credential,
    account_id: int,
    text: str | None,
    media: MediaRefs | None,
    parts: Sequence[Mapping[str, Any]] | None,
    options: Mapping[str, Any],
) -> tuple[str, list[dict[str, Any]] | None]:
    """The checked text to store in ``posts.text`` and the parts for ``posts.parts``."""
    if parts is not None:
        if text is not None or media is not None:
            raise InvalidInput("parts", "give either text (and media) or parts, not both")
        return _thread(session, credential, account_id, parts, options)
    if text is None:
        raise InvalidInput("text", "is required (or give parts)")
    checked = check_text(text, options, credential.provider, credential.max_text_length)
    if not media:
        return checked, None
    items = _media(session, credential, account_id, media, "media")
    _check_caption(credential, checked, options, "text")
    return checked, [{"text": checked, "media": items}]


def _thread(
    session: Session,
    credential: Credential,
    account_id: int,
    parts: Sequence[Mapping[str, Any]],
    options: Mapping[str, Any],
) -> tuple[str, list[dict[str, Any]]]:
    if not parts:
        raise InvalidInput("parts", "must hold at least one part")
    if len(parts) > MAX_PARTS:
        raise InvalidInput("parts", f"has {len(parts)} parts; at most {MAX_PARTS} are allowed")
    if len(parts) > 1 and not get_provider(credential.provider).threads:
        raise InvalidInput("parts", f"{credential.provider} has no threads: give one part")
    stored: list[dict[str, Any]] = []
    for index, part in enumerate(parts):
        field = f"parts[{index}]"
        text = part.get("text")
        if not isinstance(text, str):
            raise InvalidInput(f"{field}.text", "is required and must be a string")
        try:
            checked = check_text(text, options, credential.provider, credential.max_text_length)
        except InvalidInput as exc:
            raise InvalidInput(f"{field}.text", exc.message) from None
        refs = part.get("media") or []
        items = _media(session, credential, account_id, refs, f"{field}.media") if refs else []
        if items:
            _check_caption(credential, checked, options, f"{field}.text")
        stored.append({"text": checked, "media": items})
    return str(stored[0]["text"]), stored


def _media(
    session: Session, credential: Credential, account_id: int, refs: MediaRefs, field: str
) -> list[dict[str, Any]]:
    """Each referenced media file checked against the provider's limits (by the media
    service: count, type, size, alt text) and returned as stored on the post."""
    from publisher.core.service.media import check_for_post

    storable(field, list(refs))
    return check_for_post(session, account_id, credential.provider, refs, field)


def _check_caption(
    credential: Credential, text: str, options: Mapping[str, Any], field: str
) -> None:
    """Refuse a text over the provider's limit for a post with media (Telegram's
    caption, ``MediaRule.max_caption``), measured as its text rule measures; a
    credential's own text limit, when set, stands in for it as for any text."""
    provider = get_provider(credential.provider)
    allowed = credential.max_text_length or provider.media_rule.max_caption
    if allowed is None:
        return
    rule = provider.text_rule
    length = rule.measure(text, options)
    if length > allowed:
        raise InvalidInput(
            field,
            f"is {length} {rule.counted}; {credential.provider} allows {allowed} with media"
            " (a caption)",
        )


def fingerprint(
    text: str | None, media: MediaRefs | None, parts: Sequence[Mapping[str, Any]] | None
) -> list[tuple[Any, list[Any]]]:
    """What a create asked for, to tell a retry (same content) from a reuse of its key:
    each part's text and media ids, in order."""
    if parts is None:
        return [(text, [ref.get("id") for ref in media or ()])]
    return [(p.get("text"), [ref.get("id") for ref in p.get("media") or ()]) for p in parts]


def stored_fingerprint(
    text: str, parts: list[dict[str, Any]] | None
) -> list[tuple[Any, list[Any]]]:
    """``fingerprint`` of a stored post."""
    if parts is None:
        return [(text, [])]
    return [(p["text"], [item["id"] for item in p["media"]]) for p in parts]
