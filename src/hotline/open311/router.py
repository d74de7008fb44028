"""HTTP: Open311 GeoReport v2 under /open311/v2 (filled in by the Open311 service)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/open311/v2", tags=["open311"])
