"""Long jobs over callers' data, in batches, each batch its own transaction, so they can
be interrupted at any point and simply run again: key rotation and retention purges."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.db import Database
from hotline.disputes.models import Dispute
from hotline.idempotency import IdempotencyKey
from hotline.members.models import Member
from hotline.privacy.vault import VERSION, Vault
from hotline.tickets.models import Ticket
from hotline.webhooks.models import WebhookDelivery

BATCH = 500
Progress = Callable[[int], None]


def _current(vault: Vault) -> str:
    """How a value sealed under the current key begins."""
    return f"{VERSION}:{vault.current_id}:"


def _not_current(column: Any, vault: Vault) -> sa.ColumnElement[bool]:
    return sa.and_(column.is_not(None), sa.not_(column.startswith(_current(vault))))


async def count_to_rotate(db: Database, vault: Vault) -> int:
    async with db.transaction(write=False) as session:
        tickets = await session.scalar(
            sa.select(sa.func.count()).where(
                sa.or_(
                    _not_current(Ticket.caller_phone_enc, vault),
                    _not_current(Ticket.caller_name_enc, vault),
                )
            )
        )
        members = await session.scalar(
            sa.select(sa.func.count()).where(_not_current(Member.phone_enc, vault))
        )
        answers = await session.scalar(
            sa.select(sa.func.count()).where(_not_current(IdempotencyKey.response, vault))
        )
    disputes = await _rotate_parties(db, vault, write=False)
    return int(tickets or 0) + int(members or 0) + int(answers or 0) + disputes


async def rotate_keys(db: Database, vault: Vault, progress: Progress | None = None) -> int:
    """Re-encrypt everything not under the current key (and renew blind indexes)."""
    done = 0
    while True:
        async with db.transaction() as session:
            rows = (
                await session.scalars(
                    sa.select(Ticket)
                    .where(
                        sa.or_(
                            _not_current(Ticket.caller_phone_enc, vault),
                            _not_current(Ticket.caller_name_enc, vault),
                        )
                    )
                    .limit(BATCH)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for t in rows:
                if t.caller_phone_enc is not None:
                    phone = vault.decrypt(t.caller_phone_enc)
                    t.caller_phone_enc = vault.encrypt(phone)
                    t.caller_phone_bidx = vault.blind_index(phone)
                if t.caller_name_enc is not None:
                    t.caller_name_enc = vault.encrypt(vault.decrypt(t.caller_name_enc))
            members = (
                await session.scalars(
                    sa.select(Member).where(_not_current(Member.phone_enc, vault)).limit(BATCH)
                )
            ).all()
            for m in members:
                assert m.phone_enc is not None
                m.phone_enc = vault.encrypt(vault.decrypt(m.phone_enc))
            # Stored idempotent answers are sealed too: a replay must still open them.
            answers = (
                await session.scalars(
                    sa.select(IdempotencyKey)
                    .where(_not_current(IdempotencyKey.response, vault))
                    .limit(BATCH)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for a in answers:
                a.response = vault.encrypt(vault.decrypt(a.response))
        batch = len(rows) + len(members) + len(answers)
        if batch == 0:
            break
        done += batch
        if progress is not None:
            progress(batch)
    disputes = await _rotate_parties(db, vault, write=True, progress=progress)
    return done + disputes


async def _rotate_parties(
    db: Database, vault: Vault, *, write: bool, progress: Progress | None = None
) -> int:
    """Disputes whose parties' phones are not under the current key (re-encrypted when
    ``write``). The phones sit inside a JSON list: the disputes are walked by id, a batch
    at a time (a township's ledger, not a city's tickets)."""
    changed = 0
    last: Any = None
    while True:
        async with db.transaction(write=write) as session:
            stmt = sa.select(Dispute).order_by(Dispute.id).limit(BATCH)
            if last is not None:
                stmt = stmt.where(Dispute.id > last)
            if write:
                stmt = stmt.with_for_update()
            found = (await session.scalars(stmt)).all()
            if not found:
                return changed
            batch = 0
            for d in found:
                parties = [_party_rotated(p, vault) for p in d.parties]
                if parties != d.parties:
                    batch += 1
                    if write:
                        d.parties = parties
            last = found[-1].id
        changed += batch
        if progress is not None and write and batch:
            progress(batch)


def _party_rotated(party: dict[str, Any], vault: Vault) -> dict[str, Any]:
    sealed = party.get("phone_enc")
    if sealed is None or sealed.startswith(_current(vault)):
        return party
    return {**party, "phone_enc": vault.encrypt(vault.decrypt(sealed))}


async def _purge_payloads(session: AsyncSession, ticket_ids: Sequence[uuid.UUID]) -> None:
    """The caller's name and masked phone in the webhook payloads kept of these tickets'
    events (delivered or not): a purged caller must not stay in the outbox either."""
    deliveries = (
        await session.scalars(
            sa.select(WebhookDelivery).where(WebhookDelivery.subject_id.in_(ticket_ids))
        )
    ).all()
    for d in deliveries:
        ticket = d.payload.get("data", {}).get("ticket")
        if not isinstance(ticket, dict) or not isinstance(ticket.get("caller"), dict):
            continue
        caller = {**ticket["caller"], "name": None, "phone": None}
        data = {**d.payload["data"], "ticket": {**ticket, "caller": caller}}
        d.payload = {**d.payload, "data": data}


@dataclass(frozen=True)
class PurgeScope:
    closed_before: datetime

    def where(self) -> sa.ColumnElement[bool]:
        # Terminal tickets whose caller data is still there.
        return sa.and_(
            Ticket.closed_at.is_not(None),
            Ticket.closed_at < self.closed_before,
            Ticket.caller_purged_at.is_(None),
            sa.or_(
                Ticket.caller_phone_enc.is_not(None),
                Ticket.caller_name.is_not(None),
                Ticket.caller_name_enc.is_not(None),
            ),
        )


async def count_to_purge(db: Database, scope: PurgeScope) -> int:
    async with db.transaction(write=False) as session:
        return int(await session.scalar(sa.select(sa.func.count()).where(scope.where())) or 0)


async def purge_callers(
    db: Database, scope: PurgeScope, now: datetime, progress: Progress | None = None
) -> int:
    """Anonymise callers of tickets closed before the date: the tickets, their timelines
    and every statistic stay; who called does not."""
    done = 0
    while True:
        async with db.transaction() as session:
            ids = (
                await session.scalars(sa.select(Ticket.id).where(scope.where()).limit(BATCH))
            ).all()
            if ids:
                await session.execute(
                    sa.update(Ticket)
                    .where(Ticket.id.in_(ids))
                    .values(
                        caller_name=None,
                        caller_name_enc=None,
                        caller_phone_enc=None,
                        caller_phone_bidx=None,
                        caller_phone_mask=None,
                        caller_purged_at=now,
                        # The caller as returned changed: a system paging by update sees it.
                        version=Ticket.version + 1,
                        updated_at=now,
                    )
                )
                await _purge_payloads(session, ids)
        if not ids:
            return done
        done += len(ids)
        if progress is not None:
            progress(len(ids))
