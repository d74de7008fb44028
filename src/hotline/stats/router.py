"""HTTP: statistics (filled in by the stats service)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1/stats", tags=["statistics"])
