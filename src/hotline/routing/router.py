"""HTTP: departments and routing rules (reference data; admins write)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from hotline import errors, idempotency, pagination
from hotline.deps import ActorDep, ReadSession, RuntimeDep, require, write
from hotline.jsonutil import JSONOut
from hotline.privacy import audit
from hotline.routing import service
from hotline.routing.models import Department, RoutingRule
from hotline.routing.schemas import (
    DepartmentCreate,
    DepartmentOut,
    DepartmentPage,
    DepartmentPatch,
    RuleCreate,
    RuleOut,
    RulePage,
)

router = APIRouter(prefix="/v1", dependencies=[require(*service.READERS)])
ADMIN = require()


def _department(d: Department) -> dict[str, Any]:
    return {
        "code": d.code,
        "name": d.name,
        "platform": d.platform,
        "created_at": d.created_at,
        "updated_at": d.updated_at,
    }


@router.post(
    "/departments",
    status_code=201,
    response_model=DepartmentOut,
    tags=["departments"],
    dependencies=[ADMIN],
    openapi_extra=idempotency.openapi_extra(),
)
async def create_department(
    body: DepartmentCreate, request: Request, runtime: RuntimeDep, actor: ActorDep
) -> Response:
    async def handler(session: AsyncSession) -> tuple[int, Any, dict[str, str]]:
        department = await service.create_department(session, body, runtime.clock.now())
        audit.record(
            session,
            actor,
            "department.created",
            "department",
            department.code,
            now=runtime.clock.now(),
            request=request,
            details=body.model_dump(mode="json"),
        )
        return 201, _department(department), {}

    return await write(request, runtime, actor, handler)


@router.get("/departments", response_model=DepartmentPage, tags=["departments"])
async def list_departments(
    session: ReadSession,
    limit: pagination.Limit = pagination.DEFAULT_LIMIT,
    cursor: pagination.Cursor = None,
) -> Response:
    rows, next_cursor = await pagination.newest_first(
        session, sa.select(Department), Department.created_at, Department.code, limit, cursor
    )
    return JSONOut({"items": [_department(d) for d in rows], "next_cursor": next_cursor})


@router.get("/departments/{code}", response_model=DepartmentOut, tags=["departments"])
async def get_department(code: str, session: ReadSession) -> Response:
    return JSONOut(_department(await service.get_department(session, code)))


@router.patch(
    "/departments/{code}",
    response_model=DepartmentOut,
    tags=["departments"],
    dependencies=[ADMIN],
    openapi_extra=idempotency.openapi_extra(),
)
async def patch_department(
    code: str, body: DepartmentPatch, request: Request, runtime: RuntimeDep, actor: ActorDep
) -> Response:
    async def handler(session: AsyncSession) -> tuple[int, Any, dict[str, str]]:
        department = await service.patch_department(session, code, body, runtime.clock.now())
        audit.record(
            session,
            actor,
            "department.changed",
            "department",
            code,
            now=runtime.clock.now(),
            request=request,
            details=body.model_dump(mode="json", exclude_none=True),
        )
        return 200, _department(department), {}

    return await write(request, runtime, actor, handler)


@router.post(
    "/routing-rules",
    status_code=201,
    response_model=RuleOut,
    tags=["routing"],
    dependencies=[ADMIN],
    openapi_extra=idempotency.openapi_extra(),
)
async def create_rule(
    body: RuleCreate, request: Request, runtime: RuntimeDep, actor: ActorDep
) -> Response:
    async def handler(session: AsyncSession) -> tuple[int, Any, dict[str, str]]:
        rule = await service.create_rule(session, body, runtime.clock.now())
        audit.record(
            session,
            actor,
            "routing_rule.created",
            "routing_rule",
            rule.id,
            now=runtime.clock.now(),
            request=request,
            details=body.model_dump(mode="json"),
        )
        return 201, service.rule_json(rule), {}

    return await write(request, runtime, actor, handler)


@router.get("/routing-rules", response_model=RulePage, tags=["routing"])
async def list_rules(
    session: ReadSession,
    limit: pagination.Limit = pagination.DEFAULT_LIMIT,
    cursor: pagination.Cursor = None,
) -> Response:
    rows, next_cursor = await pagination.newest_first(
        session, sa.select(RoutingRule), RoutingRule.created_at, RoutingRule.id, limit, cursor
    )
    return JSONOut({"items": [service.rule_json(r) for r in rows], "next_cursor": next_cursor})


@router.get("/routing-rules/{rule_id}", response_model=RuleOut, tags=["routing"])
async def get_rule(rule_id: str, session: ReadSession) -> Response:
    rule = await session.get(RoutingRule, service.rule_id(rule_id))
    if rule is None:
        raise errors.NotFound("No such routing rule.")
    return JSONOut(service.rule_json(rule))
