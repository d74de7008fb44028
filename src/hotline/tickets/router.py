"""HTTP: tickets, their timeline, and one route per action of the transition table."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from hotline import errors, idempotency, pagination
from hotline.actions import add_action_routes
from hotline.auth.models import Role
from hotline.auth.service import Actor
from hotline.deps import ActorDep, ReadSession, RuntimeDep, write
from hotline.jsonutil import JSONOut
from hotline.observe import TICKETS_CREATED
from hotline.privacy import phones
from hotline.runtime import Runtime
from hotline.tickets import schemas as s
from hotline.tickets import scope, service
from hotline.tickets.transitions import TICKETS

router = APIRouter(prefix="/v1/tickets", tags=["tickets"])

PROBLEMS: dict[int | str, dict[str, Any]] = {
    403: {"description": "The role may not do this"},
    404: {"description": "No such ticket within the caller's scope"},
}


def etag(version: int) -> dict[str, str]:
    return {"ETag": f'"{version}"'}


async def creator(actor: ActorDep) -> None:
    service.check_creator(actor)


@router.post(
    "",
    status_code=201,
    response_model=s.TicketOut,
    responses=PROBLEMS,
    dependencies=[Depends(creator)],
    openapi_extra=idempotency.openapi_extra(),
)
async def create_ticket(
    body: s.TicketCreate,
    request: Request,
    runtime: RuntimeDep,
    actor: ActorDep,
) -> Response:
    """Register a call or a service order; it is routed at once when a rule names a holder."""

    async def handler(session: AsyncSession) -> tuple[int, Any, dict[str, str]]:
        ticket, timers = await service.create(session, runtime, actor, body)
        out = service.render_new(actor, ticket, timers, runtime.vault)
        return 201, out, {**etag(ticket.version), "Location": f"/v1/tickets/{ticket.id}"}

    response = await write(request, runtime, actor, handler)
    if idempotency.REPLAYED_HEADER not in response.headers:
        TICKETS_CREATED.labels(body.channel.value).inc()
    return response


@router.get("", response_model=s.TicketPage, responses=PROBLEMS)
async def list_tickets(
    session: ReadSession,
    runtime: RuntimeDep,
    actor: ActorDep,
    query: Annotated[s.TicketQuery, Query()],
) -> Response:
    """Tickets the caller may read, newest first (with ``updated_since``: in update order)."""
    phone = None
    if query.caller_phone is not None:
        if actor.role not in (Role.admin, Role.operator, Role.supervisor):
            raise errors.Forbidden("Only operators and supervisors search by a caller's phone.")
        try:
            phone = phones.normalize(query.caller_phone)
        except phones.PhoneError as exc:
            raise errors.ValidationFailed.field(["query", "caller_phone"], str(exc)) from None
    filters = service.Filters(
        status=query.status,
        kind=query.kind,
        department_code=query.department_code,
        overdue=query.overdue,
        supervised=query.supervised,
        created_from=query.created_from,
        created_to=query.created_to,
        q=query.q,
        updated_since=query.updated_since,
        caller_phone_bidx=None if phone is None else runtime.vault.blind_indexes(phone),
    )
    rows, next_cursor = await service.list_tickets(
        session, actor, filters, query.limit, query.cursor
    )
    items = service.render_read(actor, rows, runtime.vault)
    return JSONOut(
        {"items": items, "next_cursor": next_cursor}, headers={"Cache-Control": "no-store"}
    )


@router.get("/{ticket_id}", response_model=s.TicketOut, responses=PROBLEMS)
async def get_ticket(
    ticket_id: str, session: ReadSession, runtime: RuntimeDep, actor: ActorDep
) -> Response:
    ticket = await scope.read_visible(session, actor, ticket_id)
    out = service.render_read(actor, [ticket], runtime.vault)[0]
    return JSONOut(out, headers={**etag(ticket.version), "Cache-Control": "no-store"})


@router.get("/{ticket_id}/events", response_model=s.EventPage, responses=PROBLEMS)
async def ticket_events(
    ticket_id: str,
    session: ReadSession,
    actor: ActorDep,
    limit: pagination.Limit = pagination.DEFAULT_LIMIT,
    cursor: pagination.Cursor = None,
) -> Response:
    """The append-only timeline, oldest first."""
    rows, next_cursor = await service.events(session, actor, ticket_id, limit, cursor)
    return JSONOut(
        {"items": [service.event_json(e) for e in rows], "next_cursor": next_cursor},
        headers={"Cache-Control": "no-store"},
    )


async def _run_action(
    session: AsyncSession,
    runtime: Runtime,
    actor: Actor,
    ticket_id: str,
    action: str,
    raw: bytes,
    if_match: str | None,
) -> tuple[dict[str, Any], int]:
    ticket, shown = await service.apply(session, runtime, actor, ticket_id, action, raw, if_match)
    answer = service.render(actor, ticket, shown, runtime.vault)
    return answer, ticket.version


add_action_routes(
    router, TICKETS, prefix="", id_name="ticket_id", response_model=s.TicketOut, run=_run_action
)
