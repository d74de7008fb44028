"""One change to one ticket: what the transition's effect works on, and how the
change is written (ticket, timeline events, outbox rows) in its transaction."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.auth.service import Actor
from hotline.db import append
from hotline.runtime import Runtime
from hotline.sla.models import Timer
from hotline.sla.service import Sla, Timers, timers_of
from hotline.supervision import service as supervision
from hotline.supervision.models import Supervision
from hotline.tickets import reads
from hotline.tickets.models import Ticket, TicketEvent
from hotline.webhooks import outbox
from hotline.webhooks.models import WebhookSubscription


@dataclass
class Change:
    session: AsyncSession
    runtime: Runtime
    ticket: Ticket
    actor: Actor
    body: BaseModel
    now: datetime
    timers: Timers
    to: str | None = None  # the effect may choose another target than the table's default
    data: dict[str, Any] = field(default_factory=dict)  # the main event's data
    # Events after the main one, e.g. ticket.closed after ticket.reviewed.
    followers: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    departments_before: frozenset[str | None] = frozenset()
    created: list[uuid.UUID] = field(default_factory=list)  # tickets this change created
    supervision: Supervision | None = None  # the case this change opened or touched
    # Work on other tickets once this one's events are written (e.g. tell a parent).
    after: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    @property
    def sla(self) -> Sla:
        return Sla.from_json(self.ticket.sla)


class Timeline:
    """Appends a ticket's events and remembers their types for the outbox."""

    def __init__(self, session: AsyncSession, ticket: Ticket, actor: Actor, now: datetime) -> None:
        self.session = session
        self.ticket = ticket
        self.actor = actor
        self.now = now
        self.types: list[str] = []

    def add(
        self, type_: str, from_status: str | None, to_status: str | None, data: dict[str, Any]
    ) -> None:
        self.ticket.last_seq += 1
        row = {
            "ticket_id": self.ticket.id,
            "seq": self.ticket.last_seq,
            "type": type_,
            "actor": self.actor.label,
            "actor_name": self.actor.name,
            "from_status": from_status,
            "to_status": to_status,
            "data": data,
            "at": self.now,
        }
        append(self.session, TicketEvent, row)
        self.types.append(type_)

    def announcements(self, departments_before: frozenset[str | None]) -> list[outbox.Announcement]:
        departments = departments_before | {self.ticket.department_code}
        return [outbox.Announcement(t, self.ticket.id, departments, self.now) for t in self.types]


def touch(ticket: Ticket, now: datetime) -> None:
    """Every change to a ticket as returned bumps its version."""
    ticket.version += 1
    ticket.updated_at = now


async def announce(
    session: AsyncSession,
    timeline: Timeline,
    ticket: Ticket,
    timers: Sequence[Timer],
    departments_before: frozenset[str | None],
    case: Supervision | None = None,
    subscriptions: Sequence[WebhookSubscription] | None = None,
    *,
    links: reads.Shown | None = None,
    new: bool = False,
) -> None:
    """Outbox rows for the change's events: ``{ticket}`` (as its department would read
    it: ``timers`` as the change left them, with its children, merged tickets and
    disputes), or ``{supervision, ticket}`` for supervision events. ``links``: read after
    the change already (an action's, a sweeper batch's); else read here, only if some
    subscription wants the events, without a flush: the changes that announce this way
    (supervision's, a child's result) move no link. A ``new`` ticket has none."""

    rendered: list[dict[str, Any]] = []  # the ticket, rendered once for all the events

    async def payload(type_: str) -> dict[str, Any]:
        if not rendered:
            beside = links
            if beside is None:
                beside = reads.NONE if new else await reads.shown_of(session, ticket.id)
            shown = beside._replace(timers=list(timers))
            rendered.append(reads.answer(ticket, shown, actor=None))
        data: dict[str, Any] = {"ticket": rendered[0]}
        if case is not None and type_.startswith("supervision."):
            data = {"supervision": (await supervision.render(session, [case]))[0], **data}
        return data

    await outbox.enqueue(
        session, timeline.announcements(departments_before), payload, subscriptions
    )


async def record(
    session: AsyncSession,
    ticket: Ticket,
    actor: Actor,
    now: datetime,
    events: Sequence[tuple[str, dict[str, Any]]],
    *,
    timers: Sequence[Timer] | None = None,
    case: Supervision | None = None,
    bump: bool = False,
    subscriptions: Sequence[WebhookSubscription] | None = None,
    links: reads.Shown | None = None,
) -> None:
    """Append events that change no status (sweeper, supervision) with their outbox rows;
    ``bump`` when the ticket as returned changed; ``links``: the ticket's children, merged
    tickets and disputes, read already (a sweeper batch reads them for all its tickets)."""
    timeline = Timeline(session, ticket, actor, now)
    for type_, data in events:
        timeline.add(type_, ticket.status, ticket.status, data)
    if bump:
        touch(ticket, now)
    if timers is None:
        timers = (await timers_of(session, "ticket", [ticket.id]))[ticket.id]
    departments = frozenset({ticket.department_code})
    await announce(session, timeline, ticket, timers, departments, case, subscriptions, links=links)
