"""Credentials and accounts: their health and actions (pause, resume, re-approve)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
