"""HTTP: the grid hierarchy (admins write, everyone who works tickets reads)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from hotline import idempotency, pagination
from hotline.deps import ActorDep, ReadSession, RuntimeDep, require, write
from hotline.grids import service
from hotline.grids.models import Grid, Level
from hotline.jsonutil import JSONOut
from hotline.privacy import audit
from hotline.routing.service import READERS

router = APIRouter(prefix="/v1/grids", tags=["grids"], dependencies=[require(*READERS)])


class GridPage(BaseModel):
    items: list[service.GridOut]
    next_cursor: str | None


@router.post(
    "",
    status_code=201,
    response_model=service.GridOut,
    dependencies=[require()],
    openapi_extra=idempotency.openapi_extra(),
)
async def create_grid(
    body: service.GridCreate, request: Request, runtime: RuntimeDep, actor: ActorDep
) -> Response:
    async def handler(session: AsyncSession) -> tuple[int, Any, dict[str, str]]:
        grid = await service.create(session, body, runtime.clock.now())
        audit.record(
            session,
            actor,
            "grid.created",
            "grid",
            grid.code,
            now=runtime.clock.now(),
            request=request,
            details=body.model_dump(mode="json"),
        )
        return 201, service.grid_json(grid), {}

    return await write(request, runtime, actor, handler)


@router.get("", response_model=GridPage)
async def list_grids(
    session: ReadSession,
    level: Level | None = None,
    parent_code: str | None = Query(default=None, max_length=64),
    within: str | None = Query(default=None, max_length=64, description="In or below this grid."),
    limit: pagination.Limit = pagination.DEFAULT_LIMIT,
    cursor: pagination.Cursor = None,
) -> Response:
    stmt = sa.select(Grid)
    if level is not None:
        stmt = stmt.where(Grid.level == level.value)
    if parent_code is not None:
        stmt = stmt.where(Grid.parent_code == parent_code)
    if within is not None:
        top = await service.get(session, within)
        stmt = stmt.where(Grid.path.startswith(top.path))
    rows, next_cursor = await pagination.newest_first(
        session, stmt, Grid.created_at, Grid.code, limit, cursor
    )
    return JSONOut({"items": [service.grid_json(g) for g in rows], "next_cursor": next_cursor})


@router.get("/{code}", response_model=service.GridOut)
async def get_grid(code: str, session: ReadSession) -> Response:
    return JSONOut(service.grid_json(await service.get(session, code)))


@router.patch(
    "/{code}",
    response_model=service.GridOut,
    dependencies=[require()],
    openapi_extra=idempotency.openapi_extra(),
)
async def patch_grid(
    code: str, body: service.GridPatch, request: Request, runtime: RuntimeDep, actor: ActorDep
) -> Response:
    async def handler(session: AsyncSession) -> tuple[int, Any, dict[str, str]]:
        grid = await service.patch(session, code, body, runtime.clock.now())
        audit.record(
            session,
            actor,
            "grid.changed",
            "grid",
            code,
            now=runtime.clock.now(),
            request=request,
            details=body.model_dump(mode="json", exclude_unset=True),
        )
        return 200, service.grid_json(grid), {}

    return await write(request, runtime, actor, handler)
