"""HTTP: party members and their 服务积分 (admins register members; most roles read)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from hotline import errors, idempotency, pagination
from hotline.auth.models import Role
from hotline.deps import ActorDep, ReadSession, RuntimeDep, require, write
from hotline.jsonutil import JSONOut
from hotline.members import service
from hotline.members.models import Member
from hotline.members.schemas import MemberCreate, MemberOut, MemberPage, MemberPatch, PointsLedger
from hotline.privacy import audit
from hotline.tickets.schemas import Instant

READERS = (Role.operator, Role.supervisor, Role.viewer, Role.member, Role.department)
router = APIRouter(prefix="/v1/members", tags=["members"], dependencies=[require(*READERS)])


@router.post(
    "",
    status_code=201,
    response_model=MemberOut,
    dependencies=[require()],
    openapi_extra=idempotency.openapi_extra(),
)
async def create_member(
    body: MemberCreate, request: Request, runtime: RuntimeDep, actor: ActorDep
) -> Response:
    async def handler(session: AsyncSession) -> tuple[int, Any, dict[str, str]]:
        member = await service.create(session, body, runtime.clock.now(), runtime.vault)
        audit.record(
            session,
            actor,
            "member.created",
            "member",
            member.id,
            now=runtime.clock.now(),
            request=request,
        )
        return 201, service.member_json(member), {}

    return await write(request, runtime, actor, handler)


@router.get("", response_model=MemberPage)
async def list_members(
    session: ReadSession,
    branch: str | None = Query(default=None, max_length=200),
    skill: str | None = Query(default=None, max_length=64),
    available: bool | None = None,
    sort: Literal["-points"] | None = Query(
        default=None, description="-points: the leaderboard of points earned in the period"
    ),
    period_from: Instant | None = None,
    period_to: Instant | None = None,
    limit: pagination.Limit = pagination.DEFAULT_LIMIT,
    cursor: pagination.Cursor = None,
) -> Response:
    stmt = service.filtered(branch, skill, available)
    if sort == "-points":
        (offset,) = pagination.decode(cursor, 1) if cursor else (0,)
        if not isinstance(offset, int) or offset < 0:
            raise pagination.bad_cursor()
        ranked = await service.leaderboard(session, stmt, period_from, period_to, limit + 1, offset)
        more = len(ranked) > limit
        items = [service.member_json(m, p) for m, p in ranked[:limit]]
        next_cursor = pagination.encode(offset + limit) if more else None
        return JSONOut({"items": items, "next_cursor": next_cursor})
    rows, next_cursor = await pagination.newest_first(
        session, stmt, Member.created_at, Member.id, limit, cursor
    )
    return JSONOut({"items": [service.member_json(m) for m in rows], "next_cursor": next_cursor})


@router.get("/{member_id}", response_model=MemberOut)
async def get_member(member_id: str, session: ReadSession) -> Response:
    return JSONOut(service.member_json(await service.get(session, member_id)))


@router.patch("/{member_id}", response_model=MemberOut, openapi_extra=idempotency.openapi_extra())
async def patch_member(
    member_id: str, body: MemberPatch, request: Request, runtime: RuntimeDep, actor: ActorDep
) -> Response:
    """Admins edit any member; a member edits its own skills and availability."""
    if actor.role is not Role.admin and not (
        actor.role is Role.member and actor.member_id == member_id
    ):
        raise errors.Forbidden("Only an admin, or the member itself, edits a member.")

    async def handler(session: AsyncSession) -> tuple[int, Any, dict[str, str]]:
        member = await service.patch(session, member_id, body, runtime.clock.now(), runtime.vault)
        audit.record(
            session,
            actor,
            "member.changed",
            "member",
            member.id,
            now=runtime.clock.now(),
            request=request,
            details=body.model_dump(mode="json", exclude={"phone"}, exclude_none=True),
        )
        return 200, service.member_json(member), {}

    return await write(request, runtime, actor, handler)


@router.get("/{member_id}/points", response_model=PointsLedger)
async def member_points(
    member_id: str,
    session: ReadSession,
    limit: pagination.Limit = pagination.DEFAULT_LIMIT,
    cursor: pagination.Cursor = None,
) -> Response:
    """The append-only 服务积分 ledger of one member, newest first as every list, with the
    total of all its lines."""
    return JSONOut(await service.ledger(session, member_id, limit, cursor))
