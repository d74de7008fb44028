"""HTTP: the dispute ledger (矛盾隐患台账), its kinds, steps, exports and statistics."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Header, Query, Request
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from hotline import errors, idempotency, pagination
from hotline.actions import add_action_routes
from hotline.auth.models import Role
from hotline.auth.service import Actor
from hotline.db import flush_all
from hotline.deps import ActorDep, ReadSession, RuntimeDep, require, write
from hotline.disputes import ledger, service
from hotline.disputes import schemas as s
from hotline.disputes.models import Dispute, DisputeKind
from hotline.disputes.transitions import DISPUTES
from hotline.jsonutil import JSONOut
from hotline.privacy import audit
from hotline.runtime import Runtime
from hotline.tickets.change import record
from hotline.tickets.schemas import Instant
from hotline.tickets.scope import find_visible

router = APIRouter(tags=["disputes"])
READERS = (Role.operator, Role.supervisor, Role.viewer, Role.department, Role.member)


class DisputeStats(BaseModel):
    total: int
    by_kind: dict[str, int]
    by_status: dict[str, int]
    closed_off: int
    closed_off_rate: float | None
    village_settled_rate: float | None
    median_days_to_close_off: float | None


@router.get("/v1/dispute-kinds", response_model=s.KindPage, dependencies=[require(*READERS)])
async def list_kinds(
    session: ReadSession,
    limit: pagination.Limit = pagination.DEFAULT_LIMIT,
    cursor: pagination.Cursor = None,
) -> Response:
    kinds, next_cursor = await pagination.newest_first(
        session, sa.select(DisputeKind), DisputeKind.created_at, DisputeKind.position, limit, cursor
    )
    return JSONOut({"items": [service.kind_json(k) for k in kinds], "next_cursor": next_cursor})


@router.post(
    "/v1/dispute-kinds",
    status_code=201,
    response_model=s.KindOut,
    dependencies=[require()],
    openapi_extra=idempotency.openapi_extra(),
)
async def create_kind(
    body: s.KindCreate, request: Request, runtime: RuntimeDep, actor: ActorDep
) -> Response:
    async def handler(session: AsyncSession) -> tuple[int, Any, dict[str, str]]:
        kind = await service.create_kind(session, body, runtime.clock.now())
        audit.record(
            session,
            actor,
            "dispute_kind.created",
            "dispute_kind",
            kind.code,
            now=runtime.clock.now(),
            request=request,
            details=body.model_dump(mode="json"),
        )
        return 201, service.kind_json(kind), {}

    return await write(request, runtime, actor, handler)


@router.post(
    "/v1/disputes",
    status_code=201,
    response_model=s.DisputeOut,
    dependencies=[require(Role.operator, Role.supervisor, Role.member)],
    openapi_extra=idempotency.openapi_extra(),
)
async def create_dispute(
    body: s.DisputeCreate, request: Request, runtime: RuntimeDep, actor: ActorDep
) -> Response:
    """Register a dispute (排查); operators, supervisors and the grid's leader."""

    async def handler(session: AsyncSession) -> tuple[int, Any, dict[str, str]]:
        source = None
        if body.source_ticket_id is not None:
            source = await find_visible(session, actor, body.source_ticket_id, for_update=True)
            if source is None:
                raise errors.ValidationFailed.field(
                    ["body", "source_ticket_id"], "not a ticket you can see"
                )
        dispute = await service.create(session, runtime, actor, body, body.grid, source=source)
        if source is not None:
            # Linked both ways, as the ticket's open_dispute links it: its dispute_ids
            # list this one now, so it changes with its event (and outbox rows).
            await flush_all(session)  # the payload's dispute_ids include it
            opened = {"dispute_id": str(dispute.id), "kind": body.kind}
            now = runtime.clock.now()
            await record(
                session, source, actor, now, [("ticket.dispute_opened", opened)], bump=True
            )
        out = (await service.render(session, actor, [dispute]))[0]
        return 201, out, {"ETag": f'"{dispute.version}"'}

    return await write(request, runtime, actor, handler)


def _filters(
    kind: str | None,
    status: str | None,
    grid: str | None,
    level: str | None,
    opened_from: datetime | None,
    opened_to: datetime | None,
    closed_from: datetime | None,
    closed_to: datetime | None,
) -> ledger.LedgerFilters:
    return ledger.LedgerFilters(
        kind, status, grid, level, opened_from, opened_to, closed_from, closed_to
    )


Status = Literal[
    "investigated", "analysed", "mediating", "visited", "closed_off", "escalated", "referred"
]


@router.get(
    "/v1/disputes",
    response_model=s.DisputePage,
    dependencies=[require(*READERS)],
    responses={200: {"content": {"text/csv": {}, ledger.XLSX: {}}}},
)
async def list_disputes(
    session: ReadSession,
    actor: ActorDep,
    kind: str | None = Query(default=None, max_length=64),
    status: Status | None = None,
    grid: str | None = Query(default=None, max_length=64, description="In or below this grid."),
    level: Literal["village", "township"] | None = None,
    opened_from: Instant | None = None,
    opened_to: Instant | None = None,
    closed_from: Instant | None = None,
    closed_to: Instant | None = None,
    limit: pagination.Limit = pagination.DEFAULT_LIMIT,
    cursor: pagination.Cursor = None,
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    """The ledger, newest first; `Accept: text/csv` or the XLSX type exports every row
    that matches (Chinese column headers)."""
    f = _filters(kind, status, grid, level, opened_from, opened_to, closed_from, closed_to)
    stmt = f.apply(sa.select(Dispute)).where(service.visible(actor))
    wants = (accept or "").lower()
    if "text/csv" in wants or ledger.XLSX in wants:
        rows = (await session.scalars(stmt.order_by(Dispute.opened_at, Dispute.id))).all()
        disputes = await service.render(session, None, rows)
        kinds = await ledger.kind_names(session)
        if "text/csv" in wants:
            return Response(
                ledger.to_csv(disputes, kinds),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": 'attachment; filename="disputes.csv"'},
            )
        return Response(
            ledger.to_xlsx(disputes, kinds),
            media_type=ledger.XLSX,
            headers={"Content-Disposition": 'attachment; filename="disputes.xlsx"'},
        )
    rows, next_cursor = await pagination.newest_first(
        session, stmt, Dispute.opened_at, Dispute.id, limit, cursor
    )
    return JSONOut(
        {"items": await service.render(session, actor, rows), "next_cursor": next_cursor}
    )


@router.get(
    "/v1/disputes/{dispute_id}", response_model=s.DisputeOut, dependencies=[require(*READERS)]
)
async def get_dispute(dispute_id: str, session: ReadSession, actor: ActorDep) -> Response:
    dispute = await service.get_visible(session, actor, dispute_id)
    out = (await service.render(session, actor, [dispute]))[0]
    return JSONOut(out, headers={"ETag": f'"{dispute.version}"'})


@router.get(
    "/v1/stats/disputes",
    response_model=DisputeStats,
    tags=["statistics"],
    dependencies=[require(Role.viewer, Role.supervisor, Role.operator)],
)
async def dispute_stats(
    session: ReadSession,
    kind: str | None = Query(default=None, max_length=64),
    grid: str | None = Query(default=None, max_length=64),
    level: Literal["village", "township"] | None = None,
    opened_from: Instant | None = Query(default=None, alias="from"),
    opened_to: Instant | None = Query(default=None, alias="to"),
) -> Response:
    """Counts by kind and status, the share closed off (销号), the share settled at village
    level (小事不出村) and the median days to 销号."""
    f = _filters(kind, None, grid, level, opened_from, opened_to, None, None)
    return JSONOut(await ledger.stats(session, f))


async def _run_action(
    session: AsyncSession,
    runtime: Runtime,
    actor: Actor,
    dispute_id: str,
    action: str,
    raw: bytes,
    if_match: str | None,
) -> tuple[dict[str, Any], int]:
    dispute = await service.apply(session, runtime, actor, dispute_id, action, raw, if_match)
    return (await service.render(session, actor, [dispute]))[0], dispute.version


add_action_routes(
    router,
    DISPUTES,
    prefix="/v1/disputes",
    id_name="dispute_id",
    response_model=s.DisputeOut,
    run=_run_action,
)
