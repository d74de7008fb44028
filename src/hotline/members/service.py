"""Members, the order holders' history, and the points ledger."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from hotline import errors, pagination
from hotline.db import json_contains_all
from hotline.members.models import Member, PointsEntry, TicketHolder
from hotline.members.schemas import MemberCreate, MemberPatch
from hotline.privacy import phones
from hotline.privacy.vault import Vault

# 服务积分 weights by the caller's evaluation of a closed order.
WEIGHTS = {"satisfied": 1.0, "basically_satisfied": 0.6, "dissatisfied": 0.0}


def member_json(member: Member, points: float | None = None) -> dict[str, Any]:
    return {
        "id": member.id,
        "name": member.name,
        "phone": member.phone_mask,
        "branch": member.branch,
        "skills": list(member.skills),
        "kind": member.kind,
        "available": member.available,
        "points": points,
        "created_at": member.created_at,
        "updated_at": member.updated_at,
    }


def _set_phone(member: Member, phone: str | None, vault: Vault) -> None:
    member.phone_enc = None if phone is None else vault.encrypt(phone)
    member.phone_mask = phones.mask(phone)


async def create(session: AsyncSession, body: MemberCreate, now: datetime, vault: Vault) -> Member:
    member_id = body.id or uuid.uuid4().hex
    if await session.get(Member, member_id) is not None:
        raise errors.Conflict(f"Member {member_id!r} exists already.")
    member = Member(
        id=member_id,
        name=body.name,
        branch=body.branch,
        skills=sorted(set(body.skills)),
        kind=body.kind.value,
        available=body.available,
        created_at=now,
        updated_at=now,
    )
    _set_phone(member, body.phone, vault)
    session.add(member)
    await session.flush()
    return member


async def get(session: AsyncSession, member_id: str) -> Member:
    member = await session.get(Member, member_id)
    if member is None:
        raise errors.NotFound("No such member.")
    return member


async def patch(
    session: AsyncSession, member_id: str, body: MemberPatch, now: datetime, vault: Vault
) -> Member:
    member = await get(session, member_id)
    if body.phone is not None:
        _set_phone(member, body.phone, vault)
    for name in ("name", "branch", "available"):
        value = getattr(body, name)
        if value is not None:
            setattr(member, name, value)
    if body.skills is not None:
        member.skills = sorted(set(body.skills))
    if body.kind is not None:
        member.kind = body.kind.value
    member.updated_at = now
    await session.flush()
    return member


async def require_available(session: AsyncSession, member_id: str, loc: Sequence[str]) -> Member:
    """The member an order is dispatched to: known and available, else 422 on ``loc``."""
    member = await session.get(Member, member_id)
    if member is None:
        raise errors.ValidationFailed.field(loc, f"unknown member {member_id!r}")
    if not member.available:
        raise errors.ValidationFailed.field(loc, f"member {member_id!r} is not available")
    return member


async def skills_of(session: AsyncSession, member_id: str | None) -> tuple[str, ...]:
    if member_id is None:
        return ()
    member = await session.get(Member, member_id)
    return tuple(member.skills) if member is not None else ()


async def remember_holder(
    session: AsyncSession, ticket_id: uuid.UUID, member_id: str, now: datetime
) -> None:
    if await session.get(TicketHolder, (ticket_id, member_id)) is None:
        session.add(TicketHolder(ticket_id=ticket_id, member_id=member_id, since=now))


def award(
    session: AsyncSession,
    *,
    member_id: str,
    ticket_id: uuid.UUID,
    satisfaction: str,
    base: float,
    now: datetime,
) -> PointsEntry:
    """A closing review's points: base x the satisfaction's weight (0 included)."""
    entry = PointsEntry(
        id=uuid.uuid4(),
        member_id=member_id,
        ticket_id=ticket_id,
        points=round(base * WEIGHTS[satisfaction], 4),
        satisfaction=satisfaction,
        reason="review",
        at=now,
    )
    session.add(entry)
    return entry


async def reverse_last_award(
    session: AsyncSession, ticket_id: uuid.UUID, now: datetime
) -> PointsEntry | None:
    """Reopening cancels the closing review's points with a new, opposite entry."""
    last = (
        await session.scalars(
            sa.select(PointsEntry)
            .where(PointsEntry.ticket_id == ticket_id, PointsEntry.reason == "review")
            .order_by(PointsEntry.at.desc())
            .limit(1)
        )
    ).first()
    if last is None:
        return None
    entry = PointsEntry(
        id=uuid.uuid4(),
        member_id=last.member_id,
        ticket_id=ticket_id,
        points=-last.points,
        satisfaction=last.satisfaction,
        reason="reopened",
        at=now,
    )
    session.add(entry)
    return entry


async def ledger(
    session: AsyncSession, member_id: str, limit: int, cursor: str | None
) -> dict[str, Any]:
    """A page of the member's ledger, newest first, and the total of every line."""
    await get(session, member_id)
    mine = PointsEntry.member_id == member_id
    total = await session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(PointsEntry.points), 0)).where(mine)
    )
    rows, next_cursor = await pagination.newest_first(
        session, sa.select(PointsEntry).where(mine), PointsEntry.at, PointsEntry.id, limit, cursor
    )
    return {
        "total": round(float(total or 0), 4),
        "items": [
            {
                "ticket_id": str(r.ticket_id),
                "points": r.points,
                "satisfaction": r.satisfaction,
                "reason": r.reason,
                "at": r.at,
            }
            for r in rows
        ],
        "next_cursor": next_cursor,
    }


def filtered(branch: str | None, skill: str | None, available: bool | None) -> sa.Select[Any]:
    stmt = sa.select(Member)
    if branch is not None:
        stmt = stmt.where(Member.branch == branch)
    if skill is not None:
        stmt = stmt.where(json_contains_all(Member.skills, [skill]))
    if available is not None:
        stmt = stmt.where(Member.available.is_(available))
    return stmt


async def leaderboard(
    session: AsyncSession,
    stmt: sa.Select[Any],
    period_from: datetime | None,
    period_to: datetime | None,
    limit: int,
    offset: int,
) -> list[tuple[Member, float]]:
    """Members by points earned in ``[period_from, period_to)``, most first (one query)."""
    earned = sa.select(PointsEntry.member_id, sa.func.sum(PointsEntry.points).label("points"))
    if period_from is not None:
        earned = earned.where(PointsEntry.at >= period_from)
    if period_to is not None:
        earned = earned.where(PointsEntry.at < period_to)
    sums = earned.group_by(PointsEntry.member_id).subquery()
    points = sa.func.coalesce(sums.c.points, 0.0)
    ranked = (
        stmt.add_columns(points.label("points"))
        .outerjoin(sums, sums.c.member_id == Member.id)
        .order_by(points.desc(), Member.id)
        .limit(limit)
        .offset(offset)
    )
    return [(m, float(p)) for m, p in (await session.execute(ranked)).all()]
