"""One post's page: its timeline, attempts, parts, media, notifications and actions."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
