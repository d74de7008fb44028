"""Who may read which tickets, as query clauses: scope lives in the query layer."""

from __future__ import annotations

import functools
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from hotline import errors
from hotline.auth.models import Role
from hotline.auth.service import Actor
from hotline.db import json_subset, rows
from hotline.members.models import TicketHolder
from hotline.tickets import reads
from hotline.tickets.models import TICKET_COLUMNS, Ticket

# Built once: building the alias per request costs measurable CPU.
_PARENT = aliased(Ticket)
_PARENT_DEPARTMENT = (
    sa.select(_PARENT.department_code).where(_PARENT.id == Ticket.parent_id).scalar_subquery()
)


def parse_id(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def query_id(value: str, name: str) -> uuid.UUID:
    """An id given as a query filter, or 422 on it (never a filter on a missing id)."""
    key = parse_id(value)
    if key is None:
        raise errors.ValidationFailed.field(["query", name], "is not an id")
    return key


def visible(actor: Actor) -> sa.ColumnElement[bool]:
    """What the actor may read, as a WHERE clause: scope lives in the query layer."""
    if actor.role in (Role.admin, Role.operator, Role.supervisor, Role.viewer):
        return sa.true()
    if actor.role is Role.department:
        # Its own tickets, and the children of its tickets (referred elsewhere). The parent
        # is looked up by primary key for the rows that need it: an EXISTS here became a
        # hashed subplan over every ticket the department ever had, read on each page.
        return sa.or_(
            Ticket.department_code == actor.department_code,
            sa.and_(
                Ticket.parent_id.is_not(None),
                _PARENT_DEPARTMENT == actor.department_code,
            ),
        )
    if actor.role is Role.member:
        held = sa.select(TicketHolder.ticket_id).where(TicketHolder.member_id == actor.member_id)
        return sa.or_(
            Ticket.member_id == actor.member_id,
            Ticket.id.in_(held),
            sa.and_(Ticket.status == "posted", _on_board(actor)),
            Ticket.created_by == actor.id,
        )
    if actor.role is Role.app:
        return Ticket.created_by == actor.id
    return sa.false()


def _on_board(actor: Actor) -> sa.ColumnElement[bool]:
    """The board: posted orders whose every skill the member has."""
    return json_subset(Ticket.skills, list(actor.skills))


def listed(actor: Actor) -> sa.ColumnElement[bool]:
    """What the actor's lists show: what it may read, except that a member sees posted
    orders on the board only (API.md: "only orders whose `skills` it has"), even one it
    held before returning it, which it may still read by id."""
    if actor.role is Role.member:
        return sa.and_(visible(actor), sa.or_(Ticket.status != "posted", _on_board(actor)))
    return visible(actor)


def _in_scope(actor: Actor) -> tuple[sa.ColumnElement[bool], ...]:
    return (Ticket.id == sa.bindparam("ticket_id"), visible(actor))


# One ticket by ``:ticket_id`` within the actor's scope, built once per actor: building the
# expression costs more CPU than PostgreSQL spends answering it.
@functools.lru_cache(maxsize=1024)
def _by_id(actor: Actor, for_update: bool) -> sa.Select[Ticket]:
    stmt = sa.select(Ticket).where(*_in_scope(actor))
    return stmt.with_for_update() if for_update else stmt


@functools.lru_cache(maxsize=1024)
def _row_by_id(actor: Actor) -> sa.Select[Any]:
    return reads.answering(sa.select(*TICKET_COLUMNS).where(*_in_scope(actor)))


async def find_visible(
    session: AsyncSession, actor: Actor, ticket_id: str | uuid.UUID, *, for_update: bool = False
) -> Ticket | None:
    key = ticket_id if isinstance(ticket_id, uuid.UUID) else parse_id(ticket_id)
    if key is None:
        return None
    stmt = _by_id(actor, for_update)
    return (await session.execute(stmt, {"ticket_id": key})).scalar_one_or_none()


async def read_visible(session: AsyncSession, actor: Actor, ticket_id: str) -> sa.Row[Any]:
    """The ticket as a row to answer with (no entity to build), what the answer shows
    beside it included (tickets.reads): 404 outside the scope."""
    key = parse_id(ticket_id)
    found = [] if key is None else await rows(session, _row_by_id(actor), {"ticket_id": key})
    if not found:
        raise errors.NotFound("No such ticket.")
    return found[0]


async def get_visible(
    session: AsyncSession, actor: Actor, ticket_id: str, *, for_update: bool = False
) -> Ticket:
    ticket = await find_visible(session, actor, ticket_id, for_update=for_update)
    if ticket is None:
        raise errors.NotFound("No such ticket.")
    return ticket
