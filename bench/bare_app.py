"""The floor for bench/http.py: a minimal FastAPI + asyncpg app on the same PostgreSQL.

``POST /tickets`` validates a small body, inserts one ticket row and one event row in one
transaction and answers 201 with the ticket; ``GET /tickets/{id}`` reads one row. No auth,
no ORM, no middleware: what FastAPI, uvicorn and asyncpg cost per request on this machine.
hotline's figures are printed as ratios to these.

Run it the way bench/http.py does (from the repository root, so that ``bench`` imports)::

    BARE_DSN=postgresql://postgres@127.0.0.1:5432/DB .venv/bin/python -m uvicorn \\
        bench.bare_app:app --host 127.0.0.1 --port 8001 --log-level warning --no-access-log
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field
from starlette.responses import Response

SCHEMA = """
CREATE TABLE IF NOT EXISTS bare_tickets (
    id uuid PRIMARY KEY,
    kind text NOT NULL,
    channel text NOT NULL,
    category text NOT NULL,
    topic text,
    content text NOT NULL,
    caller_name text,
    caller_phone text,
    status text NOT NULL,
    version integer NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS bare_events (
    ticket_id uuid NOT NULL REFERENCES bare_tickets (id),
    seq integer NOT NULL,
    type text NOT NULL,
    data jsonb NOT NULL,
    at timestamptz NOT NULL,
    PRIMARY KEY (ticket_id, seq)
);
"""
COLUMNS = (
    "id, kind, channel, category, topic, content, caller_name, caller_phone, status, "
    "version, created_at, updated_at"
)


class Caller(BaseModel):
    name: str | None = None
    phone: str | None = None


class TicketIn(BaseModel):
    kind: str
    channel: str
    category: str
    topic: str | None = None
    content: str = Field(min_length=1, max_length=5000)
    caller: Caller | None = None


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_UTC_Z)


def row_json(row: asyncpg.Record) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, uuid.UUID) else v) for k, v in row.items()}


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    pool = await asyncpg.create_pool(
        os.environ["BARE_DSN"],
        min_size=int(os.environ.get("BARE_POOL_MIN", "10")),
        max_size=int(os.environ.get("BARE_POOL_MAX", "20")),
    )
    async with pool.acquire() as conn:
        await conn.execute(SCHEMA)
    app.state.pool = pool
    try:
        yield
    finally:
        await pool.close()


app = FastAPI(lifespan=lifespan)


@app.get("/healthz")
async def healthz() -> JSON:
    return JSON({"status": "ok"})


@app.post("/tickets", status_code=201)
async def create_ticket(body: TicketIn) -> JSON:
    now = datetime.now(UTC)
    caller = body.caller or Caller()
    pool: asyncpg.Pool = app.state.pool
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            f"INSERT INTO bare_tickets ({COLUMNS}) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'received', 1, $9, $9) "
            f"RETURNING {COLUMNS}",
            uuid.uuid4(),
            body.kind,
            body.channel,
            body.category,
            body.topic,
            body.content,
            caller.name,
            caller.phone,
            now,
        )
        assert row is not None
        await conn.execute(
            "INSERT INTO bare_events (ticket_id, seq, type, data, at) "
            "VALUES ($1, 1, 'ticket.created', $2::jsonb, $3)",
            row["id"],
            orjson.dumps({"channel": body.channel}).decode(),
            now,
        )
    return JSON(row_json(row), status_code=201)


@app.get("/tickets/{ticket_id}")
async def get_ticket(ticket_id: uuid.UUID) -> JSON:
    pool: asyncpg.Pool = app.state.pool
    row = await pool.fetchrow(f"SELECT {COLUMNS} FROM bare_tickets WHERE id = $1", ticket_id)
    if row is None:
        raise HTTPException(404)
    return JSON(row_json(row))
