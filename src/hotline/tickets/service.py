"""Ticket intake, reading within scope, and every action through the transition table."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from hotline import errors, pagination
from hotline.auth.models import Role
from hotline.auth.service import Actor
from hotline.db import among, flush_all, rows
from hotline.grids import service as grids
from hotline.privacy.vault import Vault
from hotline.runtime import Runtime
from hotline.sla import service as sla
from hotline.sla.models import Timer
from hotline.sla.service import Timers
from hotline.tickets import reads
from hotline.tickets import schemas as s
from hotline.tickets import transitions as tx
from hotline.tickets.change import Change, Timeline, announce, touch
from hotline.tickets.intake import Intake, open_ticket
from hotline.tickets.models import TICKET_COLUMNS, Ticket, TicketEvent, TicketView
from hotline.tickets.scope import find_visible, get_visible, listed, parse_id
from hotline.tickets.views import ticket_json
from hotline.workflow import check_if_match, parse_body

CREATORS = frozenset({Role.admin, Role.operator, Role.app, Role.member})
ONLY_GRID_LEADERS = (
    "A member registers tickets only as a grid leader, with channel grid, "
    "for a location in or below its grid."
)


def check_creator(actor: Actor) -> None:
    """The role's part of registering a ticket, checked before the body (403 before 422):
    a member only if it leads a grid (the grid and channel are the body's part)."""
    if actor.role not in CREATORS:
        raise errors.Forbidden(f"A {actor.role.value} may not do this.")
    if actor.role is Role.member and not actor.grid_codes:
        raise errors.Forbidden(ONLY_GRID_LEADERS)


# -- rendering ---------------------------------------------------------------------


def render_read(
    actor: Actor, rows: Sequence[sa.Row[Any]], vault: Vault | None
) -> list[dict[str, Any]]:
    """Tickets read with what their answers show beside them (tickets.reads)."""
    return [render(actor, row, reads.shown(row), vault) for row in rows]


def render_new(
    actor: Actor, ticket: Ticket, timers: Sequence[Timer], vault: Vault | None
) -> dict[str, Any]:
    """A ticket just registered: it has no children, merged or disputes yet."""
    allowed = tx.TICKETS.allowed_actions(ticket, actor)
    return ticket_json(ticket, timers, actor=actor, allowed=allowed, vault=vault)


def render(
    actor: Actor, ticket: TicketView, shown: reads.Shown, vault: Vault | None
) -> dict[str, Any]:
    """A ticket with what its answer shows beside it: read with it, or (an action's
    answer) read after the change, which may have moved its clocks, made a child or
    merged a ticket."""
    allowed = tx.TICKETS.allowed_actions(ticket, actor)
    return reads.answer(ticket, shown, actor=actor, allowed=allowed, vault=vault)


# -- intake ------------------------------------------------------------------------


async def create(
    session: AsyncSession, runtime: Runtime, actor: Actor, body: s.TicketCreate
) -> tuple[Ticket, list[Timer]]:
    """The new ticket and its timers (so that answering needs no further query)."""
    grid = body.location.grid if body.location else None
    if actor.role is Role.member:
        # A grid leader (网格长) registers what it meets in its own grid, or below.
        if body.channel is not s.Channel.grid or grid not in actor.grid_codes:
            raise errors.Forbidden(ONLY_GRID_LEADERS)
    elif body.on_the_spot and actor.role is not Role.admin:
        raise errors.ValidationFailed.field(
            ["body", "on_the_spot"], "only a grid leader registers on-the-spot tickets"
        )
    await grids.check_known(session, grid, ["body", "location", "grid"])
    caller = body.caller or s.CallerIn()
    intake = Intake(
        kind=body.kind.value,
        channel=body.channel.value,
        category=body.category.value,
        content=body.content,
        urgency=body.urgency.value,
        topic=body.topic,
        caller=runtime.vault.seal_caller(caller.name, caller.phone, caller.confidential),
        special_groups=caller.special_groups,
        confidential=caller.confidential,
        location=body.location.model_dump(exclude_none=True) if body.location else None,
        grid=body.location.grid if body.location else None,
        skills=body.skills,
        external_ref=body.external_ref,
        on_the_spot=body.on_the_spot,
    )
    await sla.refresh_calendar(session, runtime)
    return await open_ticket(session, runtime, actor, intake)


# -- actions -----------------------------------------------------------------------


async def apply(
    session: AsyncSession,
    runtime: Runtime,
    actor: Actor,
    ticket_id: str,
    action: str,
    raw_body: bytes,
    if_match: str | None = None,
) -> tuple[Ticket, reads.Shown]:
    """One action, in the order clients rely on: 404, 403, 422, 412, 409; the ticket as the
    change left it, flushed, and what its answer shows beside it."""
    ticket = await find_visible(session, actor, ticket_id, for_update=True)
    if ticket is None:
        if action == "claim" and await _claimed_meanwhile(session, actor, ticket_id):
            raise errors.AlreadyClaimed("Another member claimed this order first.")
        raise errors.NotFound("No such ticket.")
    tx.TICKETS.check_role(ticket, action, actor)
    body = parse_body(raw_body, tx.TICKETS.body_of(action))
    check_if_match(if_match, ticket.version, "ticket")
    if (
        action == "claim"
        and ticket.status != s.Status.posted
        and ticket.kind == s.Kind.service_order
        and ticket.member_id != actor.member_id
    ):
        # Another member holds it now (one this member held before); its own order is
        # answered as any action not allowed in its status.
        raise errors.AlreadyClaimed("This order is no longer on the board.")
    transition = tx.TICKETS.choose(ticket, action, actor)
    await sla.refresh_calendar(session, runtime)
    now = runtime.clock.now()
    # Read once the ticket's lock is held, in a statement of their own: joined to the locking
    # statement they would be as they were before it waited for the lock (PostgreSQL
    # re-checks only the locked row), and a change could undo the sweeper's breach.
    timers = await Timers.load(session, "ticket", ticket.id, runtime.calendar, now)
    change = Change(
        session=session,
        runtime=runtime,
        ticket=ticket,
        actor=actor,
        body=body,
        now=now,
        timers=timers,
        to=transition.to,
        departments_before=frozenset({ticket.department_code}),
    )
    await transition.effect(change)
    before = ticket.status
    after = change.to or before
    ticket.status = after
    if after in s.TERMINAL_STATUSES and before not in s.TERMINAL_STATUSES:
        ticket.closed_at = now
    elif after not in s.TERMINAL_STATUSES:
        ticket.closed_at = None
    touch(ticket, now)
    timeline = Timeline(session, ticket, actor, now)
    timeline.add(transition.event, before, after, change.data)
    for type_, data in change.followers:
        timeline.add(type_, before, after, data)
    for then in change.after:
        await then()
    # What the answer and the webhooks show beside the ticket, read once after the change
    # (a child or a merge it made included: the queued rows too).
    await flush_all(session)
    shown = await reads.shown_of(session, ticket.id)
    await announce(
        session,
        timeline,
        ticket,
        timers.rows,
        change.departments_before,
        change.supervision,
        links=shown,
    )
    await session.flush()
    return ticket, shown


async def _claimed_meanwhile(session: AsyncSession, actor: Actor, ticket_id: str) -> bool:
    """A claim that lost the race: the order left the member's sight only because another
    member took it. Answer 409 (winner unnamed) rather than 404, but only for an order the
    member could see on the board."""
    key = parse_id(ticket_id)
    if actor.role is not Role.member or key is None:
        return False
    ticket = await session.get(Ticket, key)
    return (
        ticket is not None
        and ticket.kind == s.Kind.service_order
        and ticket.member_id is not None
        and set(ticket.skills) <= set(actor.skills)
    )


# -- reading -----------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    status: s.Status | None = None
    kind: s.Kind | None = None
    department_code: str | None = None
    overdue: bool | None = None
    supervised: bool | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    q: str | None = None
    updated_since: datetime | None = None
    caller_phone_bidx: list[str] | None = None

    def bound(self) -> dict[str, Any]:
        """The filters given, as the page statement's parameters."""
        values: dict[str, Any] = {
            "status": None if self.status is None else self.status.value,
            "kind": None if self.kind is None else self.kind.value,
            "department_code": self.department_code,
            "created_from": self.created_from,
            "created_to": self.created_to,
            "updated_since": self.updated_since,
            "bidx": self.caller_phone_bidx,
        }
        if self.q:
            escaped = self.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            values["q"] = f"%{escaped}%"
        return {name: value for name, value in values.items() if value is not None}


def _bound(column: Any, name: str) -> sa.BindParameter[Any]:
    return sa.bindparam(name, type_=column.type)


# The page statement per actor and shape (the parameters given, and so the order and
# whether a cursor), every value bound at execution: SQLAlchemy then finds its compiled form
# by identity instead of walking a new expression per request (a tenth of a page's CPU).
@functools.lru_cache(maxsize=1024)
def _page(
    actor: Actor, given: frozenset[str], overdue: bool | None, supervised: bool | None
) -> sa.Select[Any]:
    by_update = "updated_since" in given
    stmt = sa.select(*TICKET_COLUMNS).where(listed(actor))
    for name, column in (
        ("status", Ticket.status),
        ("kind", Ticket.kind),
        ("department_code", Ticket.department_code),
    ):
        if name in given:
            stmt = stmt.where(column == _bound(column, name))
    if overdue is not None:
        stmt = stmt.where(Ticket.overdue.is_(overdue))
    if supervised is not None:
        stmt = stmt.where(Ticket.supervised.is_(supervised))
    if "created_from" in given:
        stmt = stmt.where(Ticket.created_at >= _bound(Ticket.created_at, "created_from"))
    if "created_to" in given:
        stmt = stmt.where(Ticket.created_at < _bound(Ticket.created_at, "created_to"))
    if "bidx" in given:
        stmt = stmt.where(among(Ticket.caller_phone_bidx, "bidx"))
    if "q" in given:
        pattern = sa.bindparam("q", type_=sa.String)
        stmt = stmt.where(
            sa.or_(
                Ticket.content.ilike(pattern, escape="\\"),
                Ticket.number.ilike(pattern, escape="\\"),
            )
        )
    if by_update:
        # A departmental system catching up pages in update order, oldest first.
        stmt = stmt.where(Ticket.updated_at >= _bound(Ticket.updated_at, "updated_since"))
    key = Ticket.updated_at if by_update else Ticket.created_at
    if "after_at" in given:
        at, last = _bound(key, "after_at"), _bound(Ticket.id, "after_id")
        stmt = stmt.where(pagination.after(key, Ticket.id, at, last, descending=not by_update))
    order = (key.asc(), Ticket.id.asc()) if by_update else (key.desc(), Ticket.id.desc())
    stmt = stmt.order_by(*order).limit(sa.bindparam("limit", type_=sa.Integer))
    return reads.answering(stmt, key.name, descending=not by_update)


async def list_tickets(
    session: AsyncSession, actor: Actor, f: Filters, limit: int, cursor: str | None
) -> tuple[list[sa.Row[Any]], str | None]:
    """A page of tickets as rows (they are only rendered), with what each answer shows
    beside them (``render_read``)."""
    params = f.bound()
    by_update = f.updated_since is not None
    if cursor is not None:
        params["after_at"], params["after_id"] = pagination.position(cursor)
    params["limit"] = limit + 1
    stmt = _page(actor, frozenset(params), f.overdue, f.supervised)
    page = list(await rows(session, stmt, params))
    return pagination.page(
        page, limit, lambda t: (t.updated_at if by_update else t.created_at, str(t.id))
    )


async def events(
    session: AsyncSession, actor: Actor, ticket_id: str, limit: int, cursor: str | None
) -> tuple[list[TicketEvent], str | None]:
    ticket = await get_visible(session, actor, ticket_id)
    after = 0
    if cursor is not None:
        (after,) = pagination.decode(cursor, 1)
        if not isinstance(after, int):
            raise pagination.bad_cursor()
    found = list(
        (
            await session.scalars(
                sa.select(TicketEvent)
                .where(TicketEvent.ticket_id == ticket.id, TicketEvent.seq > after)
                .order_by(TicketEvent.seq)
                .limit(limit + 1)
            )
        ).all()
    )
    return pagination.page(found, limit, lambda e: (e.seq,))


def event_json(event: TicketEvent) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "type": event.type,
        "actor": event.actor,
        "actor_name": event.actor_name,
        "from_status": event.from_status,
        "to_status": event.to_status,
        "data": event.data,
        "at": event.at,
    }
