"""The chosen stack's own floor: bench/bare_app.py's two routes on SQLAlchemy's async session.

hotline is built on FastAPI, SQLAlchemy 2's async ORM and Pydantic (the project's brief); the
bare app uses none of SQLAlchemy. This app does exactly the bare app's work (the same body,
the same two tables, one ticket row and one event row per POST in one transaction, one row
per GET) through that stack with no feature of hotline's, twice:

- ``/orm/tickets``: as the stack's documentation writes it: typed ``Mapped[]`` models, a
  session per request from a FastAPI dependency, ``session.add`` and ``commit``, the ORM object
  returned through a ``response_model``;
- ``/core/tickets``: the cheapest way through the same session: Core statements executed by
  the session (``INSERT ... RETURNING``), no unit of work, the answer encoded by orjson, as
  hotline's hot paths do.

What these cost over the bare app is what any service on this stack pays before its first
feature: bench/calls.py prints both beside the bare app.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, cast

import sqlalchemy as sa
from fastapi import Depends, FastAPI, HTTPException
from pydantic import BaseModel, ConfigDict
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from bench.bare_app import JSON, SCHEMA, Caller, TicketIn


class Base(DeclarativeBase):
    pass


class Ticket(Base):
    __tablename__ = "bare_tickets"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    kind: Mapped[str]
    channel: Mapped[str]
    category: Mapped[str]
    topic: Mapped[str | None]
    content: Mapped[str]
    caller_name: Mapped[str | None]
    caller_phone: Mapped[str | None]
    status: Mapped[str]
    version: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))


class Event(Base):
    __tablename__ = "bare_events"

    ticket_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey(Ticket.id), primary_key=True)
    seq: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str]
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    ticket: Mapped[Ticket] = relationship()


class TicketOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: str
    channel: str
    category: str
    topic: str | None
    content: str
    caller_name: str | None
    caller_phone: str | None
    status: str
    version: int
    created_at: datetime
    updated_at: datetime


engine = create_async_engine(
    os.environ.get("STACK_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"),
    # As many connections as the bare app's pool may hold, all kept: SQLAlchemy closes an
    # overflow connection when it is returned, and reconnecting is no part of the floor.
    pool_size=int(os.environ.get("BARE_POOL_MAX", "20")),
    max_overflow=0,
)
Sessions = async_sessionmaker(engine, expire_on_commit=False)


async def session() -> AsyncIterator[AsyncSession]:
    async with Sessions() as s:
        yield s


SessionDep = Annotated[AsyncSession, Depends(session)]


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with engine.begin() as conn:
        for statement in SCHEMA.split(";"):
            if statement.strip():
                await conn.exec_driver_sql(statement)
    try:
        yield
    finally:
        await engine.dispose()


app = FastAPI(lifespan=lifespan)


@app.get("/healthz")
async def healthz() -> JSON:
    return JSON({"status": "ok"})


def _new(body: TicketIn, now: datetime) -> dict[str, Any]:
    caller = body.caller or Caller()
    return {
        "id": uuid.uuid4(),
        "kind": body.kind,
        "channel": body.channel,
        "category": body.category,
        "topic": body.topic,
        "content": body.content,
        "caller_name": caller.name,
        "caller_phone": caller.phone,
        "status": "received",
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }


@app.post("/orm/tickets", status_code=201, response_model=TicketOut)
async def orm_create(body: TicketIn, s: SessionDep) -> Ticket:
    now = datetime.now(UTC)
    ticket = Ticket(**_new(body, now))
    event = {"channel": body.channel}
    s.add_all([ticket, Event(ticket=ticket, seq=1, type="ticket.created", data=event, at=now)])
    await s.commit()  # the ticket first: the relationship orders them
    return ticket


@app.get("/orm/tickets/{ticket_id}", response_model=TicketOut)
async def orm_get(ticket_id: uuid.UUID, s: SessionDep) -> Ticket:
    ticket = await s.get(Ticket, ticket_id)
    if ticket is None:
        raise HTTPException(404)
    return ticket


_TICKETS = cast(sa.Table, Ticket.__table__)
_EVENTS = cast(sa.Table, Event.__table__)
_INSERT = sa.insert(_TICKETS).returning(*_TICKETS.c)
_SELECT = sa.select(_TICKETS).where(_TICKETS.c.id == sa.bindparam("id"))


def _json(row: sa.Row[Any]) -> dict[str, Any]:
    out = row._asdict()
    out["id"] = str(out["id"])
    return out


@app.post("/core/tickets", status_code=201)
async def core_create(body: TicketIn, s: SessionDep) -> JSON:
    now = datetime.now(UTC)
    async with s.begin():
        row = (await s.execute(_INSERT, _new(body, now))).one()
        await s.execute(
            sa.insert(_EVENTS),
            {
                "ticket_id": row.id,
                "seq": 1,
                "type": "ticket.created",
                "data": {"channel": body.channel},
                "at": now,
            },
        )
    return JSON(_json(row), status_code=201)


@app.get("/core/tickets/{ticket_id}")
async def core_get(ticket_id: uuid.UUID, s: SessionDep) -> JSON:
    row = (await s.execute(_SELECT, {"id": ticket_id})).one_or_none()
    if row is None:
        raise HTTPException(404)
    return JSON(_json(row))
