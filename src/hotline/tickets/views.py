"""A ticket as a given principal may see it (masking and hiding callers' data)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from hotline.auth.models import Role
from hotline.auth.service import Actor
from hotline.privacy.vault import Vault
from hotline.sla.models import TimerView
from hotline.tickets.models import TicketView

# Who handles a ticket never learns who a confidential (保密) caller is.
HANDLER_ROLES = frozenset({Role.department, Role.member})


def caller_json(
    ticket: TicketView, *, hide_confidential: bool, vault: Vault | None = None
) -> dict[str, Any]:
    """The caller with the phone masked; a confidential caller's name is kept only
    encrypted, so it is decrypted here for those who may see it."""
    hidden = ticket.caller_confidential and hide_confidential
    name = ticket.caller_name
    if not hidden and ticket.caller_name_enc is not None and vault is not None:
        name = vault.decrypt(ticket.caller_name_enc)
    return {
        "name": None if hidden else name,
        "phone": None if hidden else ticket.caller_phone_mask,
        "special_groups": list(ticket.caller_special_groups or []),
        "confidential": ticket.caller_confidential,
    }


def timer_json(timer: TimerView) -> dict[str, Any]:
    return {
        "kind": timer.kind,
        "due_at": timer.due_at,
        "state": timer.state,
        "started_at": timer.started_at,
        "met_at": timer.met_at,
        "breached_at": timer.breached_at,
    }


def ticket_json(
    ticket: TicketView,
    timers: Sequence[TimerView],
    *,
    children: Sequence[uuid.UUID] = (),
    merged_ids: Sequence[uuid.UUID] = (),
    dispute_ids: Sequence[uuid.UUID] = (),
    actor: Actor | None,
    allowed: list[str] | None = None,
    vault: Vault | None = None,
) -> dict[str, Any]:
    """``actor`` None is the view sent to integrations: as a department sees it,
    without ``allowed_actions``."""
    hide = actor is None or actor.role in HANDLER_ROLES
    out: dict[str, Any] = {
        "id": str(ticket.id),
        "number": ticket.number,
        "kind": ticket.kind,
        "channel": ticket.channel,
        "category": ticket.category,
        "topic": ticket.topic,
        "urgency": ticket.urgency,
        "content": ticket.content,
        "location": ticket.location,
        "skills": list(ticket.skills or []),
        "external_ref": ticket.external_ref,
        "caller": caller_json(ticket, hide_confidential=hide, vault=vault),
        "status": ticket.status,
        "department_code": ticket.department_code,
        "member_id": ticket.member_id,
        "timers": [timer_json(t) for t in timers],
        "overdue": ticket.overdue,
        "supervised": ticket.supervised,
        "satisfaction": ticket.satisfaction,
        "result": ticket.result,
        "pending_extension": ticket.pending_extension,
        "parent_id": None if ticket.parent_id is None else str(ticket.parent_id),
        "children": [str(c) for c in children],
        "merged_into": None if ticket.merged_into is None else str(ticket.merged_into),
        "merged_ids": [str(m) for m in merged_ids],
        "dispute_ids": [str(d) for d in dispute_ids],
        "on_the_spot": ticket.on_the_spot,
        "version": ticket.version,
        "created_at": ticket.created_at,
        "updated_at": ticket.updated_at,
    }
    if allowed is not None:
        out["allowed_actions"] = allowed
    return out
