"""Registering a ticket: its number, routing, first clocks and first events."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.auth.service import Actor
from hotline.db import append, dialect_name, values_of
from hotline.grids import service as grids
from hotline.privacy.vault import SealedCaller
from hotline.routing import service as routing
from hotline.runtime import Runtime
from hotline.sla.models import Timer
from hotline.sla.service import Sla, Timers
from hotline.tickets.change import Timeline, announce
from hotline.tickets.models import Ticket, TicketCounter
from hotline.tickets.schemas import Kind, Status


@dataclass(frozen=True)
class Intake:
    """What a new ticket is made of."""

    kind: str
    channel: str
    category: str
    content: str
    urgency: str = "normal"
    topic: str | None = None
    caller: SealedCaller = field(default_factory=SealedCaller)
    special_groups: list[str] = field(default_factory=list)
    confidential: bool = False
    location: dict[str, Any] | None = None
    grid: str | None = None
    skills: list[str] = field(default_factory=list)
    external_ref: str | None = None
    on_the_spot: bool = False
    parent_id: uuid.UUID | None = None

    async def facts(self, session: AsyncSession) -> routing.Facts:
        lineage = await grids.lineage(session, self.grid)
        return routing.Facts(self.kind, self.category, self.topic, self.urgency, lineage)


async def next_number(session: AsyncSession, runtime: Runtime, now: datetime) -> str:
    """YYYYMMDD and the day's sequence (at least 4 digits), from a per-day counter row.

    On PostgreSQL the counter is taken in its own short transaction: held until the
    create commits, the day's row would let only one create run at a time across every
    process. A create that then fails leaves a gap in the day's numbers, never a
    duplicate. SQLite runs one writer at a time anyway, so there it stays in the create's
    transaction.
    """
    day = now.astimezone(ZoneInfo(runtime.settings.timezone)).date()
    if dialect_name(session) == "postgresql":
        seq = (await runtime.db.peek(_TAKE_NUMBER["postgresql"], {"day": day}))[0]
    else:
        seq = (await session.execute(_TAKE_NUMBER["sqlite"], {"day": day})).scalar_one()
    return f"{day:%Y%m%d}{seq:04d}"


def _take_number(insert: Any) -> sa.Executable:
    stmt: sa.Executable = (
        insert(TicketCounter)
        .values(day=sa.bindparam("day"), last=1)
        .on_conflict_do_update(
            index_elements=[TicketCounter.day], set_={"last": TicketCounter.last + 1}
        )
        .returning(TicketCounter.last)
    )
    return stmt


# Built once per dialect (building the upsert per create costs more than running it).
_TAKE_NUMBER = {
    "postgresql": _take_number(postgresql.insert),
    "sqlite": _take_number(sqlite.insert),
}


def start_work_clocks(timers: Timers, sla: Sla) -> None:
    """Response and resolution start (or restart) when a holder is given the ticket."""
    if sla.response:
        timers.start("response", sla.response, sla.calendar, sla.warning_lead)
    else:
        timers.cancel("response")
    timers.start("resolution", sla.resolution, sla.calendar, sla.warning_lead)


def hand_to(ticket: Ticket, department_code: str | None, member_id: str | None) -> None:
    ticket.department_code = department_code
    ticket.member_id = member_id


async def open_ticket(
    session: AsyncSession,
    runtime: Runtime,
    actor: Actor,
    intake: Intake,
    *,
    department_code: str | None = None,
    callback: bool = True,
) -> tuple[Ticket, list[Timer]]:
    """Create, route and announce a ticket: ``ticket.created`` then, when a holder is
    known (the matching rule's department, or ``department_code``), ``ticket.dispatched``."""
    now = runtime.clock.now()
    rule = None if intake.on_the_spot else await routing.match(session, await intake.facts(session))
    sla = routing.sla_of(rule)
    initial = (
        Status.received if intake.kind == Kind.petition or intake.on_the_spot else Status.posted
    )
    ticket = Ticket(
        id=uuid.uuid4(),
        number=await next_number(session, runtime, now),
        kind=intake.kind,
        channel=intake.channel,
        category=intake.category,
        topic=intake.topic,
        urgency=intake.urgency,
        content=intake.content,
        caller_name=intake.caller.name,
        caller_name_enc=intake.caller.name_enc,
        caller_phone_enc=intake.caller.phone_enc,
        caller_phone_bidx=intake.caller.phone_bidx,
        caller_phone_mask=intake.caller.phone_mask,
        caller_special_groups=list(intake.special_groups),
        caller_confidential=intake.confidential,
        location=intake.location,
        grid_code=intake.grid,
        skills=list(intake.skills),
        external_ref=intake.external_ref,
        status=initial,
        on_the_spot=intake.on_the_spot,
        overdue=False,
        supervised=False,
        sla=sla.as_json(),
        rule_id=None if rule is None else rule.id,
        parent_id=intake.parent_id,
        created_by=actor.id,
        last_seq=0,
        version=1,
        created_at=now,
        updated_at=now,
    )
    # The new ticket and its first timers are written as rows once final (db.append): the
    # unit of work's bookkeeping for them was a tenth of a create's Python calls.
    timers = Timers(session, "ticket", ticket.id, [], runtime.calendar, now, attach=False)
    timeline = Timeline(session, ticket, actor, now)
    if callback:
        timers.start("callback", sla.callback, "natural")
    created: dict[str, Any] = {"channel": ticket.channel, "rule_id": rule and str(rule.id)}
    if intake.parent_id is not None:
        created["parent_id"] = str(intake.parent_id)
    timeline.add("ticket.created", None, ticket.status, created)
    target = department_code or (rule.department_code if rule is not None else None)
    if target is not None:
        before = ticket.status
        ticket.status = Status.dispatched
        hand_to(ticket, target, None)
        start_work_clocks(timers, sla)
        timeline.add(
            "ticket.dispatched",
            before,
            ticket.status,
            {"department_code": target, "auto": department_code is None},
        )
    await announce(session, timeline, ticket, timers.rows, frozenset(), new=True)
    append(session, Ticket, values_of(ticket))
    for timer in timers.rows:
        append(session, Timer, values_of(timer))
    await session.flush()
    return ticket, timers.rows
