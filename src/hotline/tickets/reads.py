"""Tickets read for an answer: each row with what the answer shows beside it (its timers,
children, merged tickets and disputes), in the row's own statement.

A ticket's GET was three statements (the row, its timers, its links), and so was a list page;
each statement costs the service more CPU than the database spends answering it. Here they are
correlated subqueries returning JSON arrays, run only for the rows the inner statement returns
(its LIMIT applies first). An action's answer reads them the same way, by the ticket's id.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.auth.service import Actor
from hotline.db import inline, json_list, json_rows, rows
from hotline.disputes.models import Dispute
from hotline.privacy.vault import Vault
from hotline.sla.models import ShownTimer, Timer, TimerView
from hotline.tickets.models import Ticket, TicketView
from hotline.tickets.views import ticket_json

_TIMERS = Timer.__table__
_CHILDREN = Ticket.__table__.alias("child")
_MERGED = Ticket.__table__.alias("merged")
_DISPUTES = Dispute.__table__


class Shown(NamedTuple):
    """What an answer shows beside a ticket, oldest first each."""

    timers: Sequence[TimerView]
    children: list[uuid.UUID]
    merged_ids: list[uuid.UUID]
    dispute_ids: list[uuid.UUID]


def _shown_beside(ticket_id: sa.ColumnElement[Any]) -> sa.Label[Any]:
    """[timers, children, merged, disputes], oldest first each."""
    t, c, m, d = _TIMERS.c, _CHILDREN.c, _MERGED.c, _DISPUTES.c
    return json_list(
        json_rows(
            _TIMERS,
            [t.kind, t.due_at, t.state, t.started_at, t.met_at, t.breached_at],
            [t.subject_type == inline("ticket"), t.subject_id == ticket_id],
            [t.seq],
        ),
        json_rows(_CHILDREN, [c.id], [c.parent_id == ticket_id], [c.created_at, c.id]),
        json_rows(_MERGED, [m.id], [m.merged_into == ticket_id], [m.created_at, m.id]),
        json_rows(_DISPUTES, [d.id], [d.source_ticket_id == ticket_id], [d.opened_at, d.id]),
    ).label("shown")


def answering(
    stmt: sa.Select[Any], order_by: str | None = None, *, descending: bool = False
) -> sa.Select[Any]:
    """``stmt`` (ticket columns, its own order and limit) with what each answer shows beside
    its rows (``Shown``), ordered again by ``order_by`` then ``id`` when given."""
    page = stmt.subquery("answered")
    out = sa.select(page, _shown_beside(page.c.id))
    if order_by is not None:
        keys = (page.c[order_by], page.c.id)
        out = out.order_by(*(k.desc() if descending else k.asc() for k in keys))
    return out


# What an answer shows beside one ticket, by ``:ticket_id`` (an action's answer).
_SHOWN_OF = sa.select(_shown_beside(sa.bindparam("ticket_id", type_=sa.Uuid())))


async def shown_of(session: AsyncSession, ticket_id: uuid.UUID) -> Shown:
    """What an answer shows beside one ticket, as stored (flush first to see a change)."""
    return shown((await rows(session, _SHOWN_OF, {"ticket_id": ticket_id}))[0])


_T = Ticket.__table__
_SHOWN_OF_MANY = sa.select(_T.c.id, _shown_beside(_T.c.id)).where(
    _T.c.id.in_(sa.bindparam("ids", expanding=True))
)


async def shown_of_many(
    session: AsyncSession, ticket_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Shown]:
    """``shown_of`` for many tickets in one statement (a sweeper batch's)."""
    if not ticket_ids:
        return {}
    found = await rows(session, _SHOWN_OF_MANY, {"ids": list(ticket_ids)})
    return {row.id: shown(row) for row in found}


NONE = Shown([], [], [], [])  # a new ticket's: nothing beside it yet


def answer(
    ticket: TicketView,
    shown: Shown,
    *,
    actor: Actor | None,
    allowed: list[str] | None = None,
    vault: Vault | None = None,
) -> dict[str, Any]:
    """The ticket as answered, with what was read beside it (``actor`` None: as its
    department reads it, for a webhook)."""
    return ticket_json(
        ticket,
        shown.timers,
        children=shown.children,
        merged_ids=shown.merged_ids,
        dispute_ids=shown.dispute_ids,
        actor=actor,
        allowed=allowed,
        vault=vault,
    )


def shown(row: sa.Row[Any]) -> Shown:
    """What ``answering`` read beside the row."""
    timers, children, merged, disputes = row.shown
    at = datetime.fromisoformat  # utc_text: aware, in UTC
    return Shown(
        [
            ShownTimer(kind, at(due), state, at(start), met and at(met), late and at(late))
            for kind, due, state, start, met, late in timers
        ],
        [uuid.UUID(i) for (i,) in children] if children else [],
        [uuid.UUID(i) for (i,) in merged] if merged else [],
        [uuid.UUID(i) for (i,) in disputes] if disputes else [],
    )
