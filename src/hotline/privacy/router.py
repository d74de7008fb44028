"""HTTP: revealing a caller (audited) and reading the audit log (admin)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel
from starlette.responses import Response

from hotline import errors, pagination
from hotline.auth.models import Role
from hotline.deps import ActorDep, ReadSession, RuntimeDep, require
from hotline.jsonutil import JSONOut
from hotline.privacy import audit
from hotline.tickets.schemas import Instant
from hotline.tickets.scope import get_visible, query_id

router = APIRouter(tags=["privacy"])


class CallerRevealed(BaseModel):
    name: str | None
    phone: str | None


class AuditOut(BaseModel):
    id: str
    at: datetime
    principal_id: str | None
    principal_name: str
    role: str
    action: str
    subject_type: str
    subject_id: str | None
    reason: str | None
    request_id: str | None
    details: dict[str, Any]


class AuditPage(BaseModel):
    items: list[AuditOut]
    next_cursor: str | None


REVEALERS = frozenset({Role.admin, Role.operator, Role.supervisor, Role.department})


@router.get("/v1/tickets/{ticket_id}/caller", response_model=CallerRevealed, tags=["tickets"])
async def reveal_caller(
    ticket_id: str,
    request: Request,
    runtime: RuntimeDep,
    actor: ActorDep,
    reason: str | None = Query(
        default=None, description="Why the full number is needed (required, 2 to 500 characters)."
    ),
) -> Response:
    """The caller's full name and phone, for an operator, a supervisor or the ticket's own
    department (never a confidential caller's to a department). Every reveal is audited.
    Checked in API.md's order: the ticket in scope (404), the role (403), ``reason`` (422)."""
    async with runtime.db.transaction() as session:
        ticket = await get_visible(session, actor, ticket_id)
        if actor.role not in REVEALERS:
            raise errors.Forbidden(f"A {actor.role.value} may not do this.")
        if actor.role is Role.department:
            if ticket.department_code != actor.department_code:
                raise errors.Forbidden("Only the ticket's own department sees its caller.")
            if ticket.caller_confidential:
                raise errors.Forbidden("The caller asked for confidentiality (保密).")
        if reason is None or not 2 <= len(reason) <= 500:
            raise errors.ValidationFailed.field(
                ["query", "reason"], "say why the full number is needed (2 to 500 characters)"
            )
        name, phone = runtime.vault.reveal(ticket.sealed_caller)
        audit.record(
            session,
            actor,
            "caller.revealed",
            "ticket",
            ticket.id,
            now=runtime.clock.now(),
            request=request,
            reason=reason,
            details={"number": ticket.number},
        )
    return JSONOut({"name": name, "phone": phone}, headers={"Cache-Control": "no-store"})


@router.get("/v1/audit", response_model=AuditPage, dependencies=[require()], tags=["privacy"])
async def list_audit(
    session: ReadSession,
    action: str | None = Query(default=None, max_length=64),
    principal_id: str | None = Query(default=None, max_length=64),
    subject_type: str | None = Query(default=None, max_length=40),
    subject_id: str | None = Query(default=None, max_length=64),
    at_from: Instant | None = Query(default=None, alias="from"),
    at_to: Instant | None = Query(default=None, alias="to"),
    limit: pagination.Limit = pagination.DEFAULT_LIMIT,
    cursor: pagination.Cursor = None,
) -> Response:
    """The audit log, newest first."""
    e = audit.AuditEntry
    stmt = sa.select(e)
    if action is not None:
        stmt = stmt.where(e.action == action)
    if principal_id is not None:
        stmt = stmt.where(e.principal_id == query_id(principal_id, "principal_id"))
    if subject_type is not None:
        stmt = stmt.where(e.subject_type == subject_type)
    if subject_id is not None:
        stmt = stmt.where(e.subject_id == subject_id)
    if at_from is not None:
        stmt = stmt.where(e.at >= at_from)
    if at_to is not None:
        stmt = stmt.where(e.at < at_to)
    rows, next_cursor = await pagination.newest_first(session, stmt, e.at, e.id, limit, cursor)
    return JSONOut({"items": [audit.entry_json(r) for r in rows], "next_cursor": next_cursor})
