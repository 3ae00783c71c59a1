"""Charts over a chosen window (uPlot), fed as JSON from core.dashboard.charts."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
