"""Opaque cursors for keyset pagination, and the page-size rule every list shares."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

import orjson
import sqlalchemy as sa
from fastapi import Query
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from hotline import errors

Limit = Annotated[int, Query(ge=1, le=500, description="Page size, 1 to 500.")]
Cursor = Annotated[
    str | None, Query(max_length=500, description="`next_cursor` of the previous page.")
]
DEFAULT_LIMIT = 50
T = TypeVar("T")


def encode(*values: Any) -> str:
    return (
        base64.urlsafe_b64encode(orjson.dumps(list(values), option=orjson.OPT_UTC_Z))
        .decode()
        .rstrip("=")
    )


def bad_cursor() -> errors.ValidationFailed:
    return errors.ValidationFailed.field(["query", "cursor"], "is not a cursor this list gave")


def decode(cursor: str, arity: int) -> list[Any]:
    try:
        values = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, orjson.JSONDecodeError):
        values = None
    if not isinstance(values, list) or len(values) != arity:
        raise bad_cursor()
    return values


def page(
    rows: list[T], limit: int, key: Callable[[T], tuple[Any, ...]]
) -> tuple[list[T], str | None]:
    """Cut a list fetched with ``limit + 1`` rows into a page and the cursor of the next."""
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode(*key(rows[-1]))


def position(cursor: str, key: Callable[[str], Any] = uuid.UUID) -> tuple[datetime, Any]:
    """The (instant, key) a cursor of an (instant, key)-ordered list stands at; ``key``
    reads the key back (an id by default, ``str`` for a code)."""
    at_text, key_text = decode(cursor, 2)
    try:
        return datetime.fromisoformat(str(at_text)), key(str(key_text))
    except (TypeError, ValueError):
        raise bad_cursor() from None


def after(
    at_column: Any, id_column: Any, at: Any, last: Any, *, descending: bool = True
) -> sa.ColumnElement[bool]:
    """Rows past (``at``, ``last``), values or bound parameters, in a list ordered by
    those two columns."""
    if descending:
        return sa.or_(at_column < at, sa.and_(at_column == at, id_column < last))
    return sa.or_(at_column > at, sa.and_(at_column == at, id_column > last))


def keyset(
    cursor: str,
    at_column: Any,
    id_column: Any,
    *,
    descending: bool = True,
    key: Callable[[str], Any] = uuid.UUID,
) -> sa.ColumnElement[bool]:
    """Rows after the cursor's (instant, id) in a list ordered by those two columns."""
    at, last = position(cursor, key)
    return after(at_column, id_column, at, last, descending=descending)


async def newest_first(
    session: AsyncSession,
    stmt: sa.Select[T],
    at_column: InstrumentedAttribute[datetime],
    key_column: InstrumentedAttribute[Any],
    limit: int,
    cursor: str | None,
) -> tuple[list[T], str | None]:
    """A page of entities ordered newest first (API.md's default for every list): by
    ``at_column`` then ``key_column`` (an id, a code or a number), both descending."""
    if cursor is not None:
        key: Callable[[str], Any] = key_column.type.python_type
        stmt = stmt.where(keyset(cursor, at_column, key_column, key=key))
    stmt = stmt.order_by(at_column.desc(), key_column.desc()).limit(limit + 1)
    rows = list((await session.scalars(stmt)).all())
    at, name = at_column.key, key_column.key
    return page(rows, limit, lambda r: (getattr(r, at), str(getattr(r, name))))
