"""Opening, following up, escalating and closing supervision cases (党委督办)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from hotline.auth.service import Actor
from hotline.db import append, flush_all, inline
from hotline.sla.calendar import SlaDuration, WorkingCalendar
from hotline.sla.service import DEFAULT_ESCALATE_AFTER, Sla
from hotline.supervision.models import Supervision, SupervisionEntry

OPEN, CLOSED = "open", "closed"
TOP_LEVEL = 2  # 1: township committee, 2: county
_KNOWN = "supervision_entries"  # session.info: case id -> all its entries, when known


class Entry(NamedTuple):
    """A case's entry as rendered. Entries are only ever added, each a row queued with
    ``append`` (no entity: a breach wave adds thousands)."""

    type: str
    note: str | None
    actor: str
    at: datetime


def _known(session: AsyncSession) -> dict[uuid.UUID, list[Entry]]:
    """The entries of cases this session has loaded or opened whole, so that rendering
    them (an outbox payload per breach) needs neither a flush nor a query. Every entry
    is written by :func:`add_entry`, which keeps the lists whole; a rollback forgets them."""
    known: dict[uuid.UUID, list[Entry]] = session.info.setdefault(_KNOWN, {})
    return known


@sa.event.listens_for(Session, "after_soft_rollback")
def _forget_entries(session: Session, _previous: object) -> None:
    session.info.pop(_KNOWN, None)


def add_entry(
    session: AsyncSession,
    case: Supervision,
    type_: str,
    note: str | None,
    actor: Actor,
    now: datetime,
) -> Entry:
    case.last_entry += 1
    entry = Entry(type_, note, actor.label, now)
    append(
        session,
        SupervisionEntry,
        {"supervision_id": case.id, "seq": case.last_entry, **entry._asdict()},
    )
    if (entries := _known(session).get(case.id)) is not None:
        entries.append(entry)
    return entry


async def open_case(
    session: AsyncSession,
    *,
    ticket_id: uuid.UUID | None = None,
    dispute_id: uuid.UUID | None = None,
) -> Supervision | None:
    stmt = sa.select(Supervision).where(Supervision.status == inline(OPEN)).with_for_update()
    if ticket_id is not None:
        stmt = stmt.where(Supervision.ticket_id == ticket_id)
    else:
        stmt = stmt.where(Supervision.dispute_id == dispute_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def open_cases(
    session: AsyncSession, ticket_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Supervision]:
    """The open cases of many tickets, locked, with their entries: two statements for a
    whole sweeper batch instead of two per ticket."""
    if not ticket_ids:
        return {}
    cases = (
        await session.scalars(
            sa.select(Supervision)
            .where(Supervision.status == inline(OPEN), Supervision.ticket_id.in_(ticket_ids))
            .order_by(Supervision.id)
            .with_for_update()
        )
    ).all()
    await entries_of(session, [c.id for c in cases])
    return {c.ticket_id: c for c in cases if c.ticket_id is not None}


def escalate_at(calendar: WorkingCalendar, sla: Sla, now: datetime) -> datetime:
    """When a case still open on unresolved work rises a level: the rule's
    ``escalate_after`` on the rule's calendar, by default P1D working whatever the rule's
    calendar."""
    if sla.escalate_after is None:
        return calendar.add(now, SlaDuration.parse(DEFAULT_ESCALATE_AFTER), "working")
    return calendar.add(now, SlaDuration.parse(sla.escalate_after), sla.calendar)


async def open_or_add(
    session: AsyncSession,
    *,
    subject: str,
    subject_id: uuid.UUID,
    department_code: str | None,
    reason: str,
    note: str | None,
    actor: Actor,
    now: datetime,
    escalate: datetime | None,
    open_now: dict[uuid.UUID, Supervision] | None = None,
) -> tuple[Supervision, bool]:
    """The subject's open case with a new entry, or a new case; True when opened.
    ``open_now`` holds the open cases of a batch's subjects (:func:`open_cases`): it is
    used instead of a query and gets the case this call opens."""
    ids = {"ticket_id": subject_id} if subject == "ticket" else {"dispute_id": subject_id}
    if open_now is None:
        case = await open_case(session, **ids)
    else:
        case = open_now.get(subject_id)
    if case is not None:
        add_entry(session, case, reason, note, actor, now)
        return case, False
    case = Supervision(
        id=uuid.uuid4(),
        subject=subject,
        department_code=department_code,
        reason=reason,
        level=1,
        status=OPEN,
        opened_at=now,
        escalate_at=escalate,
        last_entry=0,
        **ids,
    )
    session.add(case)
    _known(session)[case.id] = []
    if open_now is not None:
        open_now[subject_id] = case
    add_entry(session, case, "opened", note, actor, now)
    return case, True


def close(
    session: AsyncSession, case: Supervision, note: str | None, actor: Actor, now: datetime
) -> None:
    case.status, case.closed_at, case.escalate_at = CLOSED, now, None
    add_entry(session, case, "closed", note, actor, now)


def escalate(session: AsyncSession, case: Supervision, actor: Actor, now: datetime) -> None:
    case.level += 1
    case.escalate_at = None  # one rise: township to county
    add_entry(session, case, "escalated", f"raised to level {case.level}", actor, now)


_E = SupervisionEntry.__table__.c


async def entries_of(
    session: AsyncSession, case_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[Entry]]:
    known = _known(session)
    missing = [i for i in case_ids if i not in known]
    if missing:
        await flush_all(session)  # the entries queued for cases not yet known
        loaded: dict[uuid.UUID, list[Entry]] = {i: [] for i in missing}
        rows = await session.execute(
            sa.select(_E.supervision_id, _E.type, _E.note, _E.actor, _E.at)
            .where(_E.supervision_id.in_(missing))
            .order_by(_E.supervision_id, _E.seq)
        )
        for case_id, *fields in rows:
            loaded[case_id].append(Entry(*fields))
        known.update(loaded)
    return {i: list(known[i]) for i in case_ids}


def case_json(case: Supervision, entries: Sequence[Entry]) -> dict[str, Any]:
    return {
        "id": str(case.id),
        "subject": case.subject,
        "ticket_id": None if case.ticket_id is None else str(case.ticket_id),
        "dispute_id": None if case.dispute_id is None else str(case.dispute_id),
        "department_code": case.department_code,
        "reason": case.reason,
        "level": case.level,
        "status": case.status,
        "opened_at": case.opened_at,
        "closed_at": case.closed_at,
        "escalate_at": case.escalate_at,
        "entries": [e._asdict() for e in entries],
    }


async def render(session: AsyncSession, cases: Sequence[Supervision]) -> list[dict[str, Any]]:
    entries = await entries_of(session, [c.id for c in cases])
    return [case_json(c, entries[c.id]) for c in cases]
