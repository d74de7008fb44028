"""Idempotency-Key handling: a retried write answers with the first answer.

A key is claimed inside the transaction of the write it guards (PostgreSQL: a
transaction-scoped advisory lock on the key, so a concurrent duplicate learns at
once that the first is in flight; SQLite: writers are serialised). Only a 2xx
answer is stored; after an error nothing is stored and the key is free again.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from hotline import errors
from hotline.db import Base, JSONType, lock_key, try_xact_lock

REPLAYED_HEADER = "Idempotent-Replayed"


def openapi_extra(reused: int = 422, **more: Any) -> dict[str, Any]:
    """What the OpenAPI document adds to each route that runs through ``deps.write``: the
    ``Idempotency-Key`` header (read from the request there, so not a parameter that
    FastAPI would parse on every call), with ``more`` of the operation besides.
    ``reused``: the status of a key reused with another request (Open311: 400)."""
    header = {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "description": "Makes a retry safe: the same key with the same request answers "
        "the first 2xx answer again (with `Idempotent-Replayed: true`); with another "
        f"request, {reused}. Per principal, kept at least 24 hours.",
        "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    }
    return {"parameters": [header], **more}


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"

    principal_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(sa.String(64))
    status_code: Mapped[int]
    response: Mapped[str] = mapped_column(sa.Text)  # sealed JSON
    headers: Mapped[dict[str, str]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(index=True)


def request_hash(method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), _canonical(body)):
        digest.update(part)
        digest.update(b"\x00")
    return digest.hexdigest()


def _canonical(body: bytes) -> bytes:
    # The same JSON with other spacing or key order is the same request.
    try:
        return orjson.dumps(orjson.loads(body or b"null"), option=orjson.OPT_SORT_KEYS)
    except orjson.JSONDecodeError:
        return body


Stored = tuple[int, Any, dict[str, str]]


async def run(
    session: AsyncSession,
    *,
    principal_id: uuid.UUID,
    key: str | None,
    fingerprint: str,
    now: datetime,
    ttl: timedelta,
    handler: Callable[[], Awaitable[Stored]],
    seal: Callable[[str], str],
    unseal: Callable[[str], str],
) -> tuple[Stored, bool]:
    """Run ``handler`` once per key; returns its answer and whether it was replayed.

    A stored answer may hold a caller's data or a new token: it is kept encrypted
    (``seal``), like everything personal at rest."""
    if key is None:
        return await handler(), False
    if not 1 <= len(key) <= 255:
        raise errors.ValidationFailed.field(
            ["header", "Idempotency-Key"], "must be 1 to 255 characters"
        )
    if not await try_xact_lock(session, lock_key("idempotency", str(principal_id), key)):
        raise errors.IdempotencyInFlight(
            "A request with this Idempotency-Key is still being processed; retry shortly."
        )
    row = await session.get(IdempotencyKey, (principal_id, key))
    if row is not None and row.created_at < now - ttl:
        await session.delete(row)
        await session.flush()
        row = None
    if row is not None:
        if row.request_hash != fingerprint:
            raise errors.IdempotencyMismatch(
                "This Idempotency-Key was used with a different request."
            )
        return (row.status_code, orjson.loads(unseal(row.response)), dict(row.headers)), True
    status, body, headers = await handler()
    if 200 <= status < 300:
        session.add(
            IdempotencyKey(
                principal_id=principal_id,
                key=key,
                request_hash=fingerprint,
                status_code=status,
                response=seal(orjson.dumps(body).decode()),
                headers=headers,
                created_at=now,
            )
        )
        await session.flush()
    return (status, body, headers), False


async def prune(session: AsyncSession, *, before: datetime) -> int:
    """Forget keys older than the retention period."""
    result = await session.execute(
        sa.delete(IdempotencyKey).where(IdempotencyKey.created_at < before)
    )
    return int(getattr(result, "rowcount", 0) or 0)
