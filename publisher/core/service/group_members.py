"""How a post group's request becomes its members: the bounds on the credential ids, the
checked overrides, and for each credential the arguments of its ``create_post`` and the
request's name for a field that call refuses."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from publisher.errors import InvalidInput
from publisher.providers import PROVIDERS

# One post per network account of one user: more in one call is surely a mistake, and it
# bounds the work (and the locks) of one request.
MAX_MEMBERS = 50
# What an override may set; a field ``create_post`` gains that differs per network joins
# here and in ``create_group``'s shared fields.
OVERRIDABLE: tuple[str, ...] = ("text", "media", "parts", "options")
# A post's content is either a text (with its media) or a thread's parts: a level that
# gives one replaces the other from the levels below it (X a thread, Mastodon one text).
ONE_TEXT, THREAD = ("text", "media"), ("parts",)
# Keyed by provider name, or by credential id (an int, or its digits as JSON keys are).
Overrides = Mapping[str, Mapping[str, Any]] | Mapping[int, Mapping[str, Any]]


@dataclass(frozen=True)
class Member:
    """One member to create: ``create_post``'s keyword arguments, and where each
    overridable value came from (``"text"``, ``"overrides.x.text"``...)."""

    index: int
    credential_id: int
    provider: str
    fields: dict[str, Any]
    origins: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"credential {self.credential_id} ({self.provider})"

    def field_of(self, name: str) -> str:
        """The request's name for a field ``create_post`` refused for this member."""
        if name == "credential_id":
            return f"credential_ids[{self.index}]"
        for overridable, origin in self.origins.items():
            if name == overridable or name.startswith((f"{overridable}.", f"{overridable}[")):
                return origin + name[len(overridable) :]
        return name


def resolve(
    index: int,
    credential_id: int,
    provider: str,
    shared: Mapping[str, Any],
    overrides: Mapping[str, Mapping[str, Any]],
) -> Member:
    """The member for one credential: the shared fields, then its provider's override,
    then its own (checked overrides, keyed by provider name or credential id as text).
    Content given at a level (text and media, or parts) replaces the other kind below it."""
    fields = dict(shared)
    origins = {name: name for name in OVERRIDABLE}
    for key in (provider, str(credential_id)):
        given = {name: v for name, v in overrides.get(key, {}).items() if v is not None}
        for kind, other in ((ONE_TEXT, THREAD), (THREAD, ONE_TEXT)):
            if given.keys() & set(kind):
                fields |= dict.fromkeys(other)
        fields |= given
        origins |= {name: f"overrides.{key}.{name}" for name in given}
    member = Member(index, credential_id, provider, fields, origins)
    if fields.get("text") is None and fields.get("parts") is None:
        raise InvalidInput(
            "text",
            f"{member.label} has no text: give text (or parts), "
            f"or overrides.{provider}.text (or .parts)",
        )
    return member


def check_credential_ids(credential_ids: Sequence[int]) -> list[int]:
    ids = list(credential_ids)
    if not ids:
        raise InvalidInput("credential_ids", "must name at least one credential")
    if len(ids) > MAX_MEMBERS:
        raise InvalidInput("credential_ids", f"a group has at most {MAX_MEMBERS} members")
    seen: set[int] = set()
    for index, cid in enumerate(ids):
        if cid in seen:
            raise InvalidInput(
                f"credential_ids[{index}]",
                f"credential {cid} is listed twice; a group has one post per credential",
            )
        seen.add(cid)
    return ids


def check_overrides(overrides: Overrides, ids: Sequence[int]) -> dict[str, Mapping[str, Any]]:
    """The overrides keyed by text; refuses a key that is neither a provider's name nor a
    member's credential id, and a field no override may set."""
    members = {str(cid) for cid in ids}
    checked: dict[str, Mapping[str, Any]] = {}
    for raw, override in overrides.items():
        key = str(raw)
        if key not in PROVIDERS and key not in members:
            raise InvalidInput(
                f"overrides.{key}",
                f"must be a provider ({', '.join(sorted(PROVIDERS))}) "
                "or the id of one of the group's credentials",
            )
        if key in checked:
            raise InvalidInput(f"overrides.{key}", "is given twice")
        if not isinstance(override, Mapping):
            raise InvalidInput(f"overrides.{key}", "must be an object")
        for name in override:
            if name not in OVERRIDABLE:
                raise InvalidInput(
                    f"overrides.{key}.{name}",
                    f"cannot be overridden; an override may set: {', '.join(OVERRIDABLE)}",
                )
        checked[key] = override
    return checked
