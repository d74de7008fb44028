"""FastAPI dependencies: the runtime, a read session, and the authenticated actor."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from hotline import errors, idempotency
from hotline.auth import service as auth
from hotline.auth.models import Role
from hotline.auth.service import Actor
from hotline.console import session as console_session
from hotline.jsonutil import JSONOut, plain
from hotline.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def read_session(runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    async with runtime.db.session(write=False) as session, session.begin():
        yield session


ReadSession = Annotated[AsyncSession, Depends(read_session)]


async def current_actor(request: Request, runtime: RuntimeDep) -> Actor:
    """The bearer token's principal; without one, the console's cookie session (whose
    writes must carry the CSRF header)."""
    header = request.headers.get("authorization")
    if header is None and (cookie := console_session.token_from_cookie(request)):
        if not console_session.csrf_ok(request):
            raise errors.Forbidden("The console's X-CSRF-Token header is missing or wrong.")
        token = cookie
    else:
        scheme, _, token = (header or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise errors.Unauthorized("Send 'Authorization: Bearer <token>'.")
    async with runtime.db.session(write=False) as session, session.begin():
        actor = await auth.authenticate(session, token.strip(), runtime.clock.now())
    request.state.actor = actor
    return actor


ActorDep = Annotated[Actor, Depends(current_actor)]


def require(*roles: Role) -> Any:
    """A dependency admitting only these roles (admins always)."""
    allowed = frozenset(roles) | {Role.admin}

    async def check(actor: ActorDep) -> Actor:
        if actor.role not in allowed:
            raise errors.Forbidden(f"A {actor.role.value} may not do this.")
        return actor

    return Depends(check)


Answer = tuple[int, Any, dict[str, str]]


async def write(
    request: Request,
    runtime: Runtime,
    actor: Actor,
    handler: Callable[[AsyncSession], Awaitable[Answer]],
) -> Response:
    """Run one write in one transaction, honouring ``Idempotency-Key``; commit before answering."""
    raw = await request.body()
    fingerprint = idempotency.request_hash(request.method, request.url.path, raw)
    assert actor.id is not None
    async with runtime.db.transaction(write=True) as session:

        async def run() -> Answer:
            status, body, headers = await handler(session)
            return status, plain(body), headers

        (status, body, headers), replayed = await idempotency.run(
            session,
            principal_id=actor.id,
            key=request.headers.get("idempotency-key"),
            fingerprint=fingerprint,
            now=runtime.clock.now(),
            ttl=runtime.settings.idempotency_ttl,
            handler=run,
        )
    if replayed:
        headers = {**headers, idempotency.REPLAYED_HEADER: "true"}
    return JSONOut(body, status_code=status, headers=headers)
