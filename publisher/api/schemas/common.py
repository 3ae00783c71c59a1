"""What every body shares: strict requests, the names the API accepts, the error body."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

Billing = Literal["active", "past_due", "suspended"]
ProviderName = Literal[
    "bluesky",
    "discord",
    "facebook",
    "linkedin",
    "mastodon",
    "telegram",
    "threads",
    "webhook",
    "x",
]
BackoffName = Literal["exponential", "linear", "constant"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorOut(BaseModel):
    error: str
    message: str
    field: str | None = None
    state: str | None = None
    problems: list[dict[str, Any]] | None = None
