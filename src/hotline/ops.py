"""Liveness, readiness and Prometheus metrics (no token needed)."""

from __future__ import annotations

from fastapi import APIRouter
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from hotline import errors
from hotline.deps import RuntimeDep
from hotline.jsonutil import JSONOut

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> Response:
    """The process is up."""
    return JSONOut({"status": "ok"})


@router.get("/readyz", responses={503: {"model": errors.Problem}})
async def readyz(runtime: RuntimeDep) -> Response:
    """The database answers."""
    try:
        await runtime.db.ping()
    except Exception as exc:
        error = errors.HotlineError("The database does not answer.")
        error.status, error.slug, error.title = 503, "not-ready", "Not ready"
        raise error from exc
    return JSONOut({"status": "ready"})


@router.get("/metrics", response_class=Response)
async def metrics() -> Response:
    """Prometheus text exposition."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
