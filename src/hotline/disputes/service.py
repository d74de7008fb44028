"""The ledger's work: kinds, opening disputes, their steps through the table, review
timers, scope, and the dispute's timeline (its entries) with outbox rows."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from hotline import errors
from hotline.auth.models import Role
from hotline.auth.service import Actor
from hotline.disputes import schemas as s
from hotline.disputes.models import DEFAULT_KINDS, Dispute, DisputeEntry, DisputeKind
from hotline.disputes.transitions import DISPUTES, TERMINAL, DisputeChange
from hotline.grids import service as grids
from hotline.privacy import phones
from hotline.runtime import Runtime
from hotline.sla.calendar import SlaDuration
from hotline.sla.service import Timers
from hotline.supervision import service as supervision
from hotline.supervision.models import Supervision
from hotline.tickets.models import Ticket
from hotline.webhooks import outbox
from hotline.webhooks.models import WebhookSubscription
from hotline.workflow import check_if_match, parse_body

READ_ALL = (Role.admin, Role.operator, Role.supervisor, Role.viewer)
CREATORS = (Role.admin, Role.operator, Role.supervisor)


# -- kinds --------------------------------------------------------------------------


async def ensure_default_kinds(session: AsyncSession, now: datetime) -> None:
    """The six common kinds (六类) exist on every database."""
    have = set((await session.scalars(sa.select(DisputeKind.code))).all())
    for position, (code, name) in enumerate(DEFAULT_KINDS):
        if code not in have:
            session.add(
                DisputeKind(
                    code=code, name=name, review_period="P7D", position=position, created_at=now
                )
            )
    await session.flush()


def kind_json(k: DisputeKind) -> dict[str, Any]:
    return {"code": k.code, "name": k.name, "review_period": k.review_period}


async def create_kind(session: AsyncSession, body: s.KindCreate, now: datetime) -> DisputeKind:
    if await session.get(DisputeKind, body.code) is not None:
        raise errors.Conflict(f"Dispute kind {body.code!r} exists already.")
    last = await session.scalar(sa.select(sa.func.max(DisputeKind.position)))
    kind = DisputeKind(
        code=body.code,
        name=body.name,
        review_period=body.review_period,
        position=(last or 0) + 1,
        created_at=now,
    )
    session.add(kind)
    await session.flush()
    return kind


# -- scope --------------------------------------------------------------------------


def visible(actor: Actor) -> sa.ColumnElement[bool]:
    """A department sees only disputes referred to it; a grid leader those in its grids."""
    if actor.role in READ_ALL:
        return sa.true()
    if actor.role is Role.department:
        return Dispute.department_code == actor.department_code
    if actor.role is Role.member and actor.grid_codes:
        return Dispute.grid.in_(sorted(actor.grid_codes))
    return sa.false()


async def get_visible(
    session: AsyncSession, actor: Actor, dispute_id: str, *, for_update: bool = False
) -> Dispute:
    try:
        key = uuid.UUID(dispute_id)
    except ValueError:
        raise errors.NotFound("No such dispute.") from None
    stmt = sa.select(Dispute).where(Dispute.id == key, visible(actor))
    if for_update:
        stmt = stmt.with_for_update()
    dispute = (await session.execute(stmt)).scalar_one_or_none()
    if dispute is None:
        raise errors.NotFound("No such dispute.")
    return dispute


# -- timeline -----------------------------------------------------------------------


def touch(dispute: Dispute, now: datetime) -> None:
    """Every change to a dispute as returned (its status, its entries) bumps its version."""
    dispute.version += 1
    dispute.updated_at = now


def add_entry(
    session: AsyncSession,
    dispute: Dispute,
    actor: Actor,
    now: datetime,
    type_: str,
    *,
    from_status: str | None,
    note: str | None = None,
    data: dict[str, Any] | None = None,
) -> DisputeEntry:
    dispute.last_entry += 1
    entry = DisputeEntry(
        dispute_id=dispute.id,
        seq=dispute.last_entry,
        step=dispute.status,
        type=type_,
        note=note,
        actor=actor.label,
        actor_name=actor.name,
        from_status=from_status,
        to_status=dispute.status,
        next_review_at=dispute.review_due_at,
        data=data or {},
        at=now,
    )
    session.add(entry)
    return entry


async def announce(
    session: AsyncSession,
    dispute: Dispute,
    entries: Sequence[DisputeEntry],
    departments: frozenset[str | None],
    case: Supervision | None = None,
    subscriptions: Sequence[WebhookSubscription] | None = None,
) -> None:
    async def payload(type_: str) -> dict[str, Any]:
        data: dict[str, Any] = {"dispute": (await render(session, None, [dispute]))[0]}
        if case is not None and type_.startswith("supervision."):
            data = {"supervision": (await supervision.render(session, [case]))[0], **data}
        return data

    items = [outbox.Announcement(e.type, dispute.id, departments, e.at) for e in entries]
    await outbox.enqueue(session, items, payload, subscriptions)


async def review_due(
    session: AsyncSession, dispute: Dispute, next_review_at: datetime | None, now: datetime
) -> datetime:
    """The next review: as given, else the kind's review period (default P7D) from now."""
    if next_review_at is not None:
        if next_review_at <= now:
            raise errors.ValidationFailed.field(["body", "next_review_at"], "must be in the future")
        return next_review_at
    kind = await session.get(DisputeKind, dispute.kind)
    period = SlaDuration.parse(kind.review_period if kind else "P7D")
    return now + period.as_timedelta()


def set_review_timer(timers: Timers, dispute: Dispute, due: datetime | None) -> None:
    dispute.review_due_at = due
    if due is None:
        timers.cancel("review")
    else:
        timers.start("review", "", "natural", due_at=due)


# -- opening ------------------------------------------------------------------------


async def create(
    session: AsyncSession,
    runtime: Runtime,
    actor: Actor,
    body: s.DisputeFields,
    grid: str,
    *,
    source: Ticket | None = None,
    loc: tuple[str, ...] = ("body",),
) -> Dispute:
    now = runtime.clock.now()
    if actor.role not in CREATORS and grid not in actor.grid_codes:
        raise errors.Forbidden("Operators, supervisors and the grid's leader open disputes.")
    if await session.get(DisputeKind, body.kind) is None:
        raise errors.ValidationFailed.field([*loc, "kind"], f"unknown dispute kind {body.kind!r}")
    await grids.check_known(session, grid, [*loc, "grid"])
    vault = runtime.vault
    dispute = Dispute(
        id=uuid.uuid4(),
        kind=body.kind,
        status="investigated",
        level="village",
        grid=grid,
        summary=body.summary,
        parties=[
            {
                "name": p.name,
                "role": p.role,
                "phone_enc": None if p.phone is None else vault.encrypt(p.phone),
                "phone_mask": phones.mask(p.phone),
            }
            for p in body.parties
        ],
        source_ticket_id=None if source is None else source.id,
        opened_at=now,
        created_by=actor.id,
        last_entry=0,
        version=1,
        updated_at=now,
    )
    session.add(dispute)
    timers = Timers(session, "dispute", dispute.id, [], runtime.calendar, now)
    set_review_timer(timers, dispute, await review_due(session, dispute, body.next_review_at, now))
    data = {"source_ticket_id": None if source is None else str(source.id)}
    entry = add_entry(session, dispute, actor, now, "dispute.opened", from_status=None, data=data)
    await session.flush()
    await announce(session, dispute, [entry], frozenset())
    return dispute


# -- actions ------------------------------------------------------------------------


async def apply(
    session: AsyncSession,
    runtime: Runtime,
    actor: Actor,
    dispute_id: str,
    action: str,
    raw_body: bytes,
    if_match: str | None = None,
) -> Dispute:
    """One step, in the order clients rely on: 404, 403, 422, 412, 409."""
    dispute = await get_visible(session, actor, dispute_id, for_update=True)
    DISPUTES.check_role(dispute, action, actor)
    body = parse_body(raw_body, DISPUTES.body_of(action))
    check_if_match(if_match, dispute.version, "dispute")
    transition = DISPUTES.choose(dispute, action, actor)
    now = runtime.clock.now()
    timers = await Timers.load(session, "dispute", dispute.id, runtime.calendar, now)
    change = DisputeChange(session, runtime, dispute, actor, body, now, timers, transition.to)
    departments = frozenset({dispute.department_code})
    await transition.effect(change)
    before, after = dispute.status, change.to or dispute.status
    dispute.status = after
    if after in TERMINAL:
        dispute.closed_at = now
        set_review_timer(timers, dispute, None)
    else:
        nxt = getattr(body, "next_review_at", None)
        set_review_timer(timers, dispute, await review_due(session, dispute, nxt, now))
    touch(dispute, now)
    entry = add_entry(
        session,
        dispute,
        actor,
        now,
        transition.event,
        from_status=before,
        note=getattr(body, "note", None),
        data=change.data,
    )
    await session.flush()
    await announce(session, dispute, [entry], departments | {dispute.department_code})
    return dispute


# -- reading ------------------------------------------------------------------------


async def entries_of(
    session: AsyncSession, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[DisputeEntry]]:
    found: dict[uuid.UUID, list[DisputeEntry]] = {i: [] for i in ids}
    if ids:
        rows = await session.scalars(
            sa.select(DisputeEntry)
            .where(DisputeEntry.dispute_id.in_(ids))
            .order_by(DisputeEntry.dispute_id, DisputeEntry.seq)
        )
        for row in rows:
            found[row.dispute_id].append(row)
    return found


def entry_json(e: DisputeEntry) -> dict[str, Any]:
    return {
        "step": e.step,
        "type": e.type,
        "note": e.note,
        "actor": e.actor,
        "actor_name": e.actor_name,
        "from_status": e.from_status,
        "to_status": e.to_status,
        "next_review_at": e.next_review_at,
        "data": e.data,
        "at": e.at,
    }


def dispute_json(
    d: Dispute, entries: Sequence[DisputeEntry], allowed: list[str] | None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": str(d.id),
        "kind": d.kind,
        "status": d.status,
        "level": d.level,
        "grid": d.grid,
        "summary": d.summary,
        "parties": [
            {"name": p["name"], "phone": p.get("phone_mask"), "role": p["role"]} for p in d.parties
        ],
        "entries": [entry_json(e) for e in entries],
        "review_due_at": d.review_due_at,
        "source_ticket_id": None if d.source_ticket_id is None else str(d.source_ticket_id),
        "referred_to": d.referred_to,
        "department_code": d.department_code,
        "opened_at": d.opened_at,
        "closed_at": d.closed_at,
        "version": d.version,
    }
    if allowed is not None:
        out["allowed_actions"] = allowed
    return out


async def render(
    session: AsyncSession, actor: Actor | None, disputes: Sequence[Dispute]
) -> list[dict[str, Any]]:
    """Disputes as the actor sees them (``None``: as sent to integrations)."""
    await session.flush()
    entries = await entries_of(session, [d.id for d in disputes])
    return [
        dispute_json(
            d, entries[d.id], None if actor is None else DISPUTES.allowed_actions(d, actor)
        )
        for d in disputes
    ]
