"""The SLA sweeper: breaches due timers, warns before deadlines, escalates cases.

Each batch is one transaction. Candidates are read without locks, then their
tickets are locked with ``FOR UPDATE SKIP LOCKED`` (PostgreSQL; SQLite's writer
lock serialises everything) and the timers are re-read under that lock. Timers
change only under their ticket's lock, so any number of sweepers, and actions
running beside them, breach each timer exactly once and never deadlock (every
writer locks the ticket before its timers). A sweeper killed mid-batch rolls back
and the next sweep does that batch again.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, cast

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.auth.service import SYSTEM
from hotline.db import in_index_order, inline
from hotline.disputes import service as disputes
from hotline.disputes.models import Dispute
from hotline.runtime import Runtime
from hotline.sla.models import Timer
from hotline.sla.service import BREACHED, RUNNING, Sla, timers_of
from hotline.supervision import service as supervision
from hotline.supervision.models import Supervision
from hotline.tickets import reads
from hotline.tickets.change import record
from hotline.tickets.models import Ticket
from hotline.tickets.schemas import OPEN_STATUSES, Status
from hotline.webhooks import outbox
from hotline.webhooks.models import WebhookSubscription

log = structlog.get_logger(__name__)
_T = TypeVar("_T")
BATCH = 500
LANES = 2  # concurrent batches of one sweep (PostgreSQL): each locks what it takes
UNRESOLVED = frozenset(OPEN_STATUSES) - {Status.resolved}


@dataclass
class SweepReport:
    breached: int = 0
    warned: int = 0
    escalated: int = 0

    def __bool__(self) -> bool:
        return bool(self.breached or self.warned or self.escalated)


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


async def _lock_tickets(session: AsyncSession, ids: Sequence[uuid.UUID]) -> list[Ticket]:
    if not ids:
        return []
    stmt = (
        sa.select(Ticket)
        .where(Ticket.id.in_(ids))
        .order_by(Ticket.id)
        .with_for_update(skip_locked=True)
    )
    return list((await session.scalars(stmt)).all())


def _unique(ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
    return list(dict.fromkeys(ids))


def past(due_at: datetime, now: datetime) -> bool:
    """A deadline is breached once it has passed (API.md: "past `due_at`"): a callback
    or a resolution at ``due_at`` itself is in time, as the statistics count it."""
    return due_at < now


def due_query(
    subject_type: str, when: Any, now: datetime, limit: int, *more: sa.ColumnElement[bool]
) -> sa.Select[uuid.UUID]:
    """Subjects with a running timer whose ``when`` has come (a due time: passed, see
    ``past``; a warning time: reached), in that order, through the partial indexes (the
    bench EXPLAINs this)."""
    came = when < now if when is Timer.due_at else when <= now
    return (
        sa.select(Timer.subject_id)
        .where(Timer.state == inline(RUNNING), came, Timer.subject_type == subject_type, *more)
        .order_by(when)
        .limit(limit)
    )


async def _due(
    session: AsyncSession,
    subject_type: str,
    when: Any,
    now: datetime,
    limit: int,
    lane: int,
    *more: sa.ColumnElement[bool],
) -> list[uuid.UUID]:
    """The candidates, read without locks; the caller locks and re-checks. Read in index
    order: a wave of due clocks arrives before the statistics know of it. ``lane`` k
    of a sweep's concurrent batches takes the k-th ``limit`` of them."""
    stmt = due_query(subject_type, when, now, limit, *more).offset(lane * limit or None)
    async with in_index_order(session):
        rows = await session.scalars(stmt)
    return _unique(rows.all())


async def breach_batch(
    runtime: Runtime, now: datetime, limit: int = BATCH, lane: int = 0
) -> tuple[int, int]:
    """Breach the due timers of up to ``limit`` tickets; returns (breached, tickets handled)."""
    async with runtime.db.transaction() as session:
        candidates = await _due(session, "ticket", Timer.due_at, now, limit, lane)
        locked = await _lock_tickets(session, candidates)
        if not locked:
            return 0, 0
        ids = [t.id for t in locked]
        all_timers = await timers_of(session, "ticket", ids)
        # Only a ticket marked supervised can have a case (the flag is never cleared).
        cases = await supervision.open_cases(session, [t.id for t in locked if t.supervised])
        subs = await outbox.subscribed(session)
        # What the payloads show beside each ticket, for the whole batch at once.
        links = await reads.shown_of_many(session, ids) if subs else {}
        breached = 0
        # Everything below is held in the session and written at COMMIT, table by table
        # in multi-row statements, instead of a flush per ticket.
        with session.no_autoflush:
            for ticket in locked:
                timers = all_timers[ticket.id]
                due = [t for t in timers if t.state == RUNNING and past(t.due_at, now)]
                if due:
                    beside = links.get(ticket.id)
                    await _breach(session, runtime, ticket, timers, due, now, subs, cases, beside)
                    breached += len(due)
        return breached, len(locked)


async def _breach(
    session: AsyncSession,
    runtime: Runtime,
    ticket: Ticket,
    timers: Sequence[Timer],
    due: Sequence[Timer],
    now: datetime,
    subs: Sequence[WebhookSubscription],
    cases: dict[uuid.UUID, Supervision],
    links: reads.Shown | None,
) -> None:
    events: list[tuple[str, dict[str, object]]] = []
    case: Supervision | None = None
    for timer in due:
        timer.state, timer.breached_at = BREACHED, now
        events.append(
            (
                "ticket.sla_breached",
                {"timer": timer.kind, "due_at": _iso(timer.due_at), "timer_id": str(timer.id)},
            )
        )
        if timer.kind == "resolution":
            sla = Sla.from_json(ticket.sla)
            case, opened = await supervision.open_or_add(
                session,
                subject="ticket",
                subject_id=ticket.id,
                department_code=ticket.department_code,
                reason="sla_breached",
                note=f"resolution due {_iso(timer.due_at)} passed",
                actor=SYSTEM,
                now=now,
                escalate=supervision.escalate_at(runtime.calendar, sla, now),
                open_now=cases,
            )
            ticket.supervised = True
            if opened:
                events.append(
                    (
                        "supervision.opened",
                        {"supervision_id": str(case.id), "reason": "sla_breached", "level": 1},
                    )
                )
    ticket.overdue = True
    await record(
        session,
        ticket,
        SYSTEM,
        now,
        events,
        timers=timers,
        case=case,
        bump=True,
        subscriptions=subs,
        links=links,
    )


async def dispute_batch(
    runtime: Runtime, now: datetime, limit: int = BATCH, lane: int = 0
) -> tuple[int, int]:
    """A dispute whose review date passed goes on the supervision board (review_overdue)."""
    async with runtime.db.transaction() as session:
        candidates = await _due(session, "dispute", Timer.due_at, now, limit, lane)
        if not candidates:
            return 0, 0
        locked = list(
            (
                await session.scalars(
                    sa.select(Dispute)
                    .where(Dispute.id.in_(candidates))
                    .order_by(Dispute.id)
                    .with_for_update(skip_locked=True)
                )
            ).all()
        )
        all_timers = await timers_of(session, "dispute", [d.id for d in locked])
        subs = await outbox.subscribed(session)
        breached = 0
        for dispute in locked:
            due = [t for t in all_timers[dispute.id] if t.state == RUNNING and past(t.due_at, now)]
            if not due:
                continue
            for timer in due:
                timer.state, timer.breached_at = BREACHED, now
            breached += len(due)
            note = f"review due {_iso(due[0].due_at)} passed"
            case, opened = await supervision.open_or_add(
                session,
                subject="dispute",
                subject_id=dispute.id,
                department_code=dispute.department_code,
                reason="review_overdue",
                note=note,
                actor=SYSTEM,
                now=now,
                escalate=None,
            )
            entries = [
                disputes.add_entry(
                    session,
                    dispute,
                    SYSTEM,
                    now,
                    "dispute.review_overdue",
                    from_status=dispute.status,
                    note=note,
                )
            ]
            if opened:
                entries.append(
                    disputes.add_entry(
                        session,
                        dispute,
                        SYSTEM,
                        now,
                        "supervision.opened",
                        from_status=dispute.status,
                        data={"supervision_id": str(case.id)},
                    )
                )
            disputes.touch(dispute, now)  # its entries, as returned, changed
            await session.flush()
            departments = frozenset({dispute.department_code})
            await disputes.announce(session, dispute, entries, departments, case, subs)
        return breached, len(locked)


async def warn_batch(
    runtime: Runtime, now: datetime, limit: int = BATCH, lane: int = 0
) -> tuple[int, int]:
    """Record one ``ticket.sla_warning`` per timer whose warning time came."""
    async with runtime.db.transaction() as session:
        candidates = await _due(
            session, "ticket", Timer.warn_at, now, limit, lane, Timer.warned_at.is_(None)
        )
        locked = await _lock_tickets(session, candidates)
        if not locked:
            return 0, 0
        ids = [t.id for t in locked]
        all_timers = await timers_of(session, "ticket", ids)
        subs = await outbox.subscribed(session)
        links = await reads.shown_of_many(session, ids) if subs else {}
        warned = 0
        for ticket in locked:
            timers = all_timers[ticket.id]
            due = [
                t
                for t in timers
                if t.state == RUNNING
                and t.warned_at is None
                and t.warn_at is not None
                and t.warn_at <= now
            ]
            for timer in due:
                timer.warned_at = now
            # A deadline already passed is reported by its breach, not by a late warning.
            events = [
                (
                    "ticket.sla_warning",
                    {"timer": t.kind, "due_at": _iso(t.due_at), "timer_id": str(t.id)},
                )
                for t in due
                if not past(t.due_at, now)
            ]
            if events:
                await record(
                    session,
                    ticket,
                    SYSTEM,
                    now,
                    events,
                    timers=timers,
                    subscriptions=subs,
                    links=links.get(ticket.id),
                )
            warned += len(events)
        return warned, len(locked)


async def escalate_batch(
    runtime: Runtime, now: datetime, limit: int = BATCH, lane: int = 0
) -> tuple[int, int]:
    """Raise open cases whose ticket is still unresolved ``escalate_after`` later."""
    async with runtime.db.transaction() as session:
        async with in_index_order(session):
            rows = (
                await session.execute(
                    sa.select(Supervision.id, Supervision.ticket_id)
                    .where(
                        Supervision.status == inline(supervision.OPEN),
                        Supervision.escalate_at <= now,
                        Supervision.ticket_id.is_not(None),
                    )
                    .order_by(Supervision.escalate_at)
                    .limit(limit)
                    .offset(lane * limit or None)
                )
            ).all()
        ticket_ids = _unique([r[1] for r in rows if r[1] is not None])
        locked = {t.id: t for t in await _lock_tickets(session, ticket_ids)}
        escalated = handled = 0
        for case_id, ticket_id in rows:
            ticket = locked.get(ticket_id) if ticket_id is not None else None
            if ticket is None:
                continue
            handled += 1
            case = await session.get(Supervision, case_id, with_for_update=True)
            if (
                case is None
                or case.status != supervision.OPEN
                or case.escalate_at is None
                or case.escalate_at > now
            ):
                continue
            if ticket.status not in UNRESOLVED or case.level >= supervision.TOP_LEVEL:
                case.escalate_at = None  # resolved meanwhile, or already at the top
                continue
            supervision.escalate(session, case, SYSTEM, now)
            await record(
                session,
                ticket,
                SYSTEM,
                now,
                [("supervision.escalated", {"supervision_id": str(case.id), "level": case.level})],
                case=case,
            )
            escalated += 1
        return escalated, handled


def _earliest(column: Any, *where: sa.ColumnElement[bool]) -> sa.ScalarSelect[Any]:
    return sa.select(sa.func.min(column)).where(*where).scalar_subquery()


# The earliest due time, warning time and escalation time of what is still pending: each
# the first entry of a partial index. No parameters, so one plan serves every sweep (a
# bound "<= now" lets PostgreSQL's generic plan guess a third of the rows match and scan
# the table when nothing is due).
NEXT_WORK = sa.select(
    _earliest(Timer.due_at, Timer.state == inline(RUNNING)),
    _earliest(Timer.warn_at, Timer.state == inline(RUNNING), Timer.warned_at.is_(None)),
    _earliest(
        Supervision.escalate_at,
        Supervision.status == inline(supervision.OPEN),
        Supervision.ticket_id.is_not(None),
    ),
)


async def _work(runtime: Runtime, now: datetime) -> tuple[bool, bool, bool]:
    """Is anything due (breaches, warnings, escalations)? One statement outside a
    transaction: the whole cost of a sweep with nothing due."""
    due_at, warn_at, escalate_at = tuple(await runtime.db.peek(NEXT_WORK))
    due = due_at is not None and past(due_at, now)
    warn = warn_at is not None and warn_at <= now
    escalate = escalate_at is not None and escalate_at <= now
    return due, warn, escalate


async def _side_by_side(batches: list[Coroutine[Any, Any, _T]]) -> list[_T]:
    """Run the batches concurrently and wait for all of them (each is its own
    transaction: one failing leaves the others to commit); then raise the first error."""
    if len(batches) == 1:
        return [await batches[0]]
    results = await asyncio.gather(*batches, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return cast(list[_T], results)


async def sweep(runtime: Runtime, now: datetime | None = None) -> SweepReport:
    """One full sweep: every due breach, warning and escalation, batch after batch."""
    now = now or runtime.clock.now()
    report = SweepReport()
    due, warn, escalate = await _work(runtime, now)
    # SQLite takes one writer at a time; PostgreSQL runs LANES batches side by side, so
    # one builds its rows while another waits on the database.
    lanes = range(1 if runtime.db.is_sqlite else LANES)
    for step, field, wanted in (
        (breach_batch, "breached", due),
        (dispute_batch, "breached", due),
        (warn_batch, "warned", warn),
        (escalate_batch, "escalated", escalate),
    ):
        while wanted:
            results = await _side_by_side([step(runtime, now, BATCH, k) for k in lanes])
            setattr(report, field, getattr(report, field) + sum(r[0] for r in results))
            # Stop when no batch could handle anything: nothing is due, or what is due is
            # locked by someone else (another sweeper, an action); the next sweep takes it.
            if not any(handled for _, handled in results):
                break
    if report:
        log.info(
            "sweep", breached=report.breached, warned=report.warned, escalated=report.escalated
        )
    return report
