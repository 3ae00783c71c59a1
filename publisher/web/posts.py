"""The posts list: combined filters, keyset pages, counts, bulk actions with a confirmation."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
