"""Registering grids (levels nest, no cycles), and the questions routing and scope ask."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from hotline import errors
from hotline.db import cached, invalidate
from hotline.grids.models import ORDER, Grid, Level
from hotline.members.models import Member
from hotline.tickets.schemas import Body, Code


class GridCreate(Body):
    code: Code
    name: str = Field(min_length=1, max_length=200)
    level: Level
    parent_code: Code | None = None
    leader_member_id: Code | None = None


class GridPatch(Body):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    level: Level | None = None
    parent_code: Code | None = None
    leader_member_id: Code | None = None


class GridOut(BaseModel):
    code: str
    name: str
    level: Level
    parent_code: str | None
    leader_member_id: str | None
    path: list[str]
    created_at: datetime
    updated_at: datetime


def grid_json(g: Grid) -> dict[str, Any]:
    return {
        "code": g.code,
        "name": g.name,
        "level": g.level,
        "parent_code": g.parent_code,
        "leader_member_id": g.leader_member_id,
        "path": lineage_of(g)[::-1],
        "created_at": g.created_at,
        "updated_at": g.updated_at,
    }


def lineage_of(grid: Grid) -> tuple[str, ...]:
    """The grid first, then its ancestors up to the county."""
    return _lineage(grid.path)


def _lineage(path: str) -> tuple[str, ...]:
    return tuple(reversed(path.strip("/").split("/")))


async def _parent(session: AsyncSession, level: Level, parent_code: str | None) -> Grid | None:
    if level is Level.county:
        if parent_code is not None:
            raise errors.ValidationFailed.field(["body", "parent_code"], "a county has no parent")
        return None
    if parent_code is None:
        raise errors.ValidationFailed.field(
            ["body", "parent_code"], f"a {level.value} needs a parent"
        )
    parent = await session.get(Grid, parent_code)
    if parent is None:
        raise errors.ValidationFailed.field(
            ["body", "parent_code"], f"unknown grid {parent_code!r}"
        )
    wanted = ORDER[ORDER.index(level) - 1]
    if parent.level != wanted:
        raise errors.ValidationFailed.field(
            ["body", "parent_code"],
            f"a {level.value} nests in a {wanted.value}, not a {parent.level}",
        )
    return parent


async def _leader(session: AsyncSession, member_id: str | None) -> None:
    if member_id is not None and await session.get(Member, member_id) is None:
        raise errors.ValidationFailed.field(
            ["body", "leader_member_id"], f"unknown member {member_id!r}"
        )


async def create(session: AsyncSession, body: GridCreate, now: datetime) -> Grid:
    if await session.get(Grid, body.code) is not None:
        raise errors.Conflict(f"Grid {body.code!r} exists already.")
    parent = await _parent(session, body.level, body.parent_code)
    await _leader(session, body.leader_member_id)
    grid = Grid(
        code=body.code,
        name=body.name,
        level=body.level.value,
        parent_code=body.parent_code,
        leader_member_id=body.leader_member_id,
        path=(parent.path if parent else "/") + body.code + "/",
        created_at=now,
        updated_at=now,
    )
    session.add(grid)
    await session.flush()
    invalidate(session)
    return grid


async def get(session: AsyncSession, code: str, *, for_update: bool = False) -> Grid:
    grid = await session.get(Grid, code, with_for_update=for_update)
    if grid is None:
        raise errors.NotFound(f"No grid {code!r}.")
    return grid


async def patch(session: AsyncSession, code: str, body: GridPatch, now: datetime) -> Grid:
    grid = await get(session, code, for_update=True)
    if body.name is not None:
        grid.name = body.name
    if "leader_member_id" in body.model_fields_set:
        await _leader(session, body.leader_member_id)
        grid.leader_member_id = body.leader_member_id
    level = Level(grid.level) if body.level is None else body.level
    parent_code = body.parent_code if "parent_code" in body.model_fields_set else grid.parent_code
    if level.value != grid.level:
        # It still nests in its parent (checked below) and its children in it.
        below = ORDER[ORDER.index(level) + 1].value if level is not ORDER[-1] else None
        child = await session.scalar(
            sa.select(Grid.code).where(Grid.parent_code == grid.code, Grid.level != below)
        )
        if child is not None:
            raise errors.ValidationFailed.field(
                ["body", "level"], f"its grid {child!r} would no longer nest in a {level.value}"
            )
        if parent_code == grid.parent_code:
            await _parent(session, level, parent_code)
        grid.level = level.value
    if parent_code != grid.parent_code:
        parent = await _parent(session, level, parent_code)
        if parent is not None and parent.path.startswith(grid.path):
            raise errors.ValidationFailed.field(
                ["body", "parent_code"], "a grid cannot move below itself"
            )
        old, new = grid.path, (parent.path if parent else "/") + grid.code + "/"
        # Move the whole subtree: every path under the old prefix gets the new one.
        await session.execute(
            sa.update(Grid)
            .where(Grid.path.startswith(old))
            .values(path=sa.func.replace(Grid.path, old, new))
            .execution_options(synchronize_session=False)
        )
        await session.refresh(grid)
        grid.parent_code = parent_code
    grid.updated_at = now
    await session.flush()
    invalidate(session)
    return grid


async def _paths(session: AsyncSession) -> dict[str, str]:
    rows = await session.execute(sa.select(Grid.code, Grid.path))
    return {row.code: row.path for row in rows}


async def paths(session: AsyncSession) -> dict[str, str]:
    """Every grid's path, through the per-process reference cache (read on every intake)."""
    return await cached(session, "grid_paths", lambda: _paths(session))


async def lineage(session: AsyncSession, code: str | None) -> tuple[str, ...]:
    """The grid and its ancestors, for routing; just the code when grids are not registered."""
    if code is None:
        return ()
    path = (await paths(session)).get(code)
    return _lineage(path) if path else (code,)


async def check_known(session: AsyncSession, code: str | None, loc: Sequence[str | int]) -> None:
    """Once grids are registered, a location must name one (422 on ``loc``)."""
    known = await paths(session)
    if code is not None and known and code not in known:
        raise errors.ValidationFailed.field(loc, f"unknown grid {code!r}")


def in_or_below(column: Any, path: str) -> sa.ColumnElement[bool]:
    """SQL: the grid code in ``column`` is in or below the grid whose path is ``path``."""
    clause: sa.ColumnElement[bool] = column.in_(
        sa.select(Grid.code).where(Grid.path.startswith(path))
    )
    return clause
