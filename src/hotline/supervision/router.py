"""HTTP: supervision cases (党委督办), read by the committee and worked by supervisors."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from hotline import errors, idempotency, pagination
from hotline.actions import ACTION_PROBLEMS, body_schema
from hotline.auth.models import Role
from hotline.deps import ActorDep, ReadSession, RuntimeDep, require, write
from hotline.disputes import service as disputes
from hotline.disputes.models import Dispute
from hotline.jsonutil import JSONOut
from hotline.supervision import service
from hotline.supervision.models import Supervision
from hotline.tickets.change import record
from hotline.tickets.models import Ticket
from hotline.tickets.schemas import Body, Note
from hotline.tickets.scope import parse_id, query_id
from hotline.workflow import parse_body

router = APIRouter(prefix="/v1/supervisions", tags=["supervision"])
READERS = (Role.supervisor, Role.operator, Role.viewer, Role.department)
WORKERS = frozenset({Role.supervisor, Role.admin})


class EntryOut(BaseModel):
    type: str
    note: str | None
    actor: str
    at: datetime


class SupervisionOut(BaseModel):
    id: str
    subject: Literal["ticket", "dispute"]
    ticket_id: str | None
    dispute_id: str | None
    department_code: str | None
    reason: Literal["sla_breached", "manual", "review_overdue"]
    level: int
    status: Literal["open", "closed"]
    opened_at: datetime
    closed_at: datetime | None
    escalate_at: datetime | None
    entries: list[EntryOut]


class SupervisionPage(BaseModel):
    items: list[SupervisionOut]
    next_cursor: str | None


class CaseNoteBody(Body):
    note: Note


@router.get("", response_model=SupervisionPage, dependencies=[require(*READERS)])
async def list_supervisions(
    session: ReadSession,
    actor: ActorDep,
    status: Literal["open", "closed"] | None = None,
    level: int | None = Query(default=None, ge=1, le=service.TOP_LEVEL),
    department_code: str | None = Query(default=None, max_length=64),
    ticket_id: str | None = Query(default=None, max_length=64),
    dispute_id: str | None = Query(default=None, max_length=64),
    subject: Literal["ticket", "dispute"] | None = None,
    limit: pagination.Limit = pagination.DEFAULT_LIMIT,
    cursor: pagination.Cursor = None,
) -> Response:
    """Cases, newest first; a department sees the cases on its own tickets."""
    stmt = sa.select(Supervision)
    if actor.role is Role.department:
        department_code = (
            actor.department_code if department_code in (None, actor.department_code) else "\x1f"
        )
    if status is not None:
        stmt = stmt.where(Supervision.status == status)
    if level is not None:
        stmt = stmt.where(Supervision.level == level)
    if subject is not None:
        stmt = stmt.where(Supervision.subject == subject)
    if department_code is not None:
        current = sa.select(Ticket.id).where(Ticket.department_code == department_code)
        stmt = stmt.where(
            sa.or_(
                Supervision.ticket_id.in_(current), Supervision.department_code == department_code
            )
        )
    if ticket_id is not None:
        stmt = stmt.where(Supervision.ticket_id == query_id(ticket_id, "ticket_id"))
    if dispute_id is not None:
        stmt = stmt.where(Supervision.dispute_id == query_id(dispute_id, "dispute_id"))
    rows, next_cursor = await pagination.newest_first(
        session, stmt, Supervision.opened_at, Supervision.id, limit, cursor
    )
    return JSONOut({"items": await service.render(session, rows), "next_cursor": next_cursor})


@router.get("/{supervision_id}", response_model=SupervisionOut, dependencies=[require(*READERS)])
async def get_supervision(supervision_id: str, session: ReadSession, actor: ActorDep) -> Response:
    case = await _visible_case(session, actor, supervision_id)
    return JSONOut((await service.render(session, [case]))[0])


async def _visible_case(
    session: AsyncSession, actor: Any, supervision_id: str, *, for_update: bool = False
) -> Supervision:
    key = parse_id(supervision_id)
    case = None if key is None else await session.get(Supervision, key, with_for_update=for_update)
    if case is None:
        raise errors.NotFound("No such supervision case.")
    if actor.role is Role.department:
        subject: Ticket | Dispute | None = (
            await session.get(Ticket, case.ticket_id)
            if case.ticket_id is not None
            else await session.get(Dispute, case.dispute_id)
        )
        if subject is None or subject.department_code != actor.department_code:
            raise errors.NotFound("No such supervision case.")
    return case


EVENTS = {
    "follow_up": ("followed_up", "supervision.followed_up"),
    "close": ("closed", "supervision.closed"),
}


def _case_action(action: str) -> None:
    entry_type, event = EVENTS[action]

    async def take(
        supervision_id: str,
        request: Request,
        runtime: RuntimeDep,
        actor: ActorDep,
    ) -> Response:
        if actor.role not in READERS and actor.role not in WORKERS:
            raise errors.Forbidden(f"A {actor.role.value} may not do this.")

        async def handler(session: AsyncSession) -> tuple[int, Any, dict[str, str]]:
            # 404 (scope), 403 (role), 422 (body), 409 (state), as for tickets' actions.
            case = await _visible_case(session, actor, supervision_id, for_update=True)
            if actor.role not in WORKERS:
                raise errors.Forbidden(f"A {actor.role.value} may not do this.")
            body = parse_body(await request.body(), CaseNoteBody)
            if case.status != service.OPEN:
                raise errors.InvalidTransition(f"The case is {case.status}.", allowed_actions=[])
            now = runtime.clock.now()
            if action == "close":
                service.close(session, case, body.note, actor, now)
            else:
                service.add_entry(session, case, entry_type, body.note, actor, now)
            data = {"supervision_id": str(case.id), "note": body.note}
            if case.ticket_id is not None:
                ticket = await session.get(Ticket, case.ticket_id, with_for_update=True)
                if ticket is not None:
                    await record(session, ticket, actor, now, [(event, data)], case=case)
            elif case.dispute_id is not None:
                dispute = await session.get(Dispute, case.dispute_id, with_for_update=True)
                if dispute is not None:
                    entry = disputes.add_entry(
                        session,
                        dispute,
                        actor,
                        now,
                        event,
                        from_status=dispute.status,
                        note=body.note,
                        data=data,
                    )
                    disputes.touch(dispute, now)
                    await session.flush()
                    departments = frozenset({dispute.department_code})
                    await disputes.announce(session, dispute, [entry], departments, case)
            return 200, (await service.render(session, [case]))[0], {}

        return await write(request, runtime, actor, handler)

    router.add_api_route(
        f"/{{supervision_id}}/actions/{action}",
        take,
        methods=["POST"],
        name=f"supervision_{action}",
        response_model=SupervisionOut,
        responses={code: r for code, r in ACTION_PROBLEMS.items() if code != 412},
        summary=f"{action} a supervision case",
        description="Supervisors (and admins) only.",
        openapi_extra=idempotency.openapi_extra(requestBody=body_schema(CaseNoteBody)),
    )


for _action in EVENTS:
    _case_action(_action)
