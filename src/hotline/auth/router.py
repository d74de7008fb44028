"""HTTP: principals and their tokens (admin only)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request
from pydantic import BaseModel, Field, model_validator
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from hotline import errors, idempotency, pagination
from hotline.auth import service
from hotline.auth.models import Principal, Role
from hotline.deps import ActorDep, ReadSession, RuntimeDep, require, write
from hotline.jsonutil import JSONOut
from hotline.privacy import audit
from hotline.tickets.schemas import Body, Code, Instant

router = APIRouter(prefix="/v1/principals", tags=["principals"], dependencies=[require()])


class PrincipalCreate(Body):
    name: str = Field(min_length=1, max_length=200)
    role: Role
    department_code: Code | None = None
    member_id: Code | None = None
    expires_at: Instant | None = None

    @model_validator(mode="after")
    def _scope(self) -> PrincipalCreate:
        if self.role is Role.department and self.department_code is None:
            raise ValueError("a department principal needs department_code")
        if self.role is Role.member and self.member_id is None:
            raise ValueError("a member principal needs member_id")
        return self


class PrincipalCreated(BaseModel):
    id: str
    name: str
    role: Role
    department_code: str | None
    member_id: str | None
    token: str = Field(description="Shown once; only its hash is kept.")
    token_id: str
    expires_at: datetime | None


class PrincipalOut(BaseModel):
    id: str
    name: str
    role: Role
    department_code: str | None
    member_id: str | None
    created_at: datetime


class PrincipalPage(BaseModel):
    items: list[PrincipalOut]
    next_cursor: str | None


class TokenCreate(Body):
    expires_at: Instant | None = None


class TokenCreated(BaseModel):
    id: str
    token: str
    expires_at: datetime | None


def _json(p: Principal) -> dict[str, Any]:
    return {
        "id": str(p.id),
        "name": p.name,
        "role": p.role,
        "department_code": p.department_code,
        "member_id": p.member_id,
        "created_at": p.created_at,
    }


def _id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise errors.NotFound("No such principal.") from None


async def _live(session: AsyncSession, principal_id: str) -> Principal:
    principal = await session.get(Principal, _id(principal_id))
    if principal is None or principal.deleted_at is not None:
        raise errors.NotFound("No such principal.")
    return principal


@router.post(
    "", status_code=201, response_model=PrincipalCreated, openapi_extra=idempotency.openapi_extra()
)
async def create_principal(
    body: PrincipalCreate, request: Request, runtime: RuntimeDep, actor: ActorDep
) -> Response:
    async def handler(session: AsyncSession) -> tuple[int, Any, dict[str, str]]:
        now = runtime.clock.now()
        principal = await service.create_principal(
            session,
            name=body.name,
            role=body.role,
            now=now,
            department_code=body.department_code,
            member_id=body.member_id,
        )
        token, clear = await service.issue_token(
            session, principal.id, now=now, expires_at=body.expires_at
        )
        out = {
            **_json(principal),
            "token": clear,
            "token_id": str(token.id),
            "expires_at": token.expires_at,
        }
        details = {"role": body.role.value, "department_code": body.department_code}
        audit.record(
            session,
            actor,
            "principal.created",
            "principal",
            principal.id,
            now=now,
            request=request,
            details=details,
        )
        return 201, out, {}

    return await write(request, runtime, actor, handler)


@router.get("", response_model=PrincipalPage)
async def list_principals(
    session: ReadSession,
    limit: pagination.Limit = pagination.DEFAULT_LIMIT,
    cursor: pagination.Cursor = None,
) -> Response:
    stmt = sa.select(Principal).where(Principal.deleted_at.is_(None))
    rows, next_cursor = await pagination.newest_first(
        session, stmt, Principal.created_at, Principal.id, limit, cursor
    )
    return JSONOut({"items": [_json(p) for p in rows], "next_cursor": next_cursor})


@router.get("/{principal_id}", response_model=PrincipalOut)
async def get_principal(principal_id: str, session: ReadSession) -> Response:
    return JSONOut(_json(await _live(session, principal_id)))


@router.delete("/{principal_id}", status_code=204, openapi_extra=idempotency.openapi_extra())
async def delete_principal(
    principal_id: str, request: Request, runtime: RuntimeDep, actor: ActorDep
) -> Response:
    """Revoke the principal and every token it holds."""

    async def handler(session: AsyncSession) -> tuple[int, Any, dict[str, str]]:
        now = runtime.clock.now()
        await service.revoke_principal(session, _id(principal_id), now)
        audit.record(
            session, actor, "principal.deleted", "principal", principal_id, now=now, request=request
        )
        return 204, None, {}

    response = await write(request, runtime, actor, handler)
    runtime.tokens.clear()  # this process forgets at once; others within the cache's seconds
    return response


@router.post(
    "/{principal_id}/tokens",
    status_code=201,
    response_model=TokenCreated,
    openapi_extra=idempotency.openapi_extra(),
)
async def create_token(
    principal_id: str, body: TokenCreate, request: Request, runtime: RuntimeDep, actor: ActorDep
) -> Response:
    async def handler(session: AsyncSession) -> tuple[int, Any, dict[str, str]]:
        principal = await _live(session, principal_id)
        token, clear = await service.issue_token(
            session, principal.id, now=runtime.clock.now(), expires_at=body.expires_at
        )
        audit.record(
            session,
            actor,
            "token.created",
            "principal",
            principal.id,
            now=runtime.clock.now(),
            request=request,
            details={"token_id": str(token.id)},
        )
        return 201, {"id": str(token.id), "token": clear, "expires_at": token.expires_at}, {}

    return await write(request, runtime, actor, handler)


@router.delete(
    "/{principal_id}/tokens/{token_id}", status_code=204, openapi_extra=idempotency.openapi_extra()
)
async def delete_token(
    principal_id: str, token_id: str, request: Request, runtime: RuntimeDep, actor: ActorDep
) -> Response:

    async def handler(session: AsyncSession) -> tuple[int, Any, dict[str, str]]:
        now = runtime.clock.now()
        await service.revoke_token(session, _id(principal_id), _id(token_id), now)
        audit.record(
            session,
            actor,
            "token.revoked",
            "principal",
            principal_id,
            now=now,
            request=request,
            details={"token_id": token_id},
        )
        return 204, None, {}

    response = await write(request, runtime, actor, handler)
    runtime.tokens.clear()
    return response
