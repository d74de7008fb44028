"""FastAPI dependencies: the runtime, a read session, and the authenticated actor."""

from __future__ import annotations

import time
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


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_runtime(request: Request) -> Runtime:
    return runtime_of(request)


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]

# The dependencies below read the runtime from the request rather than through RuntimeDep:
# FastAPI resolves each sub-dependency per request even when cached (a GET 2,041 -> 1,922
# calls without the two).


async def read_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with runtime_of(request).db.reading() as session:
        yield session


ReadSession = Annotated[AsyncSession, Depends(read_session)]


async def current_actor(request: Request) -> Actor:
    """The bearer token's principal; without one, the console's cookie session (whose
    writes must carry the CSRF header)."""
    runtime = runtime_of(request)
    header = request.headers.get("authorization")
    if header is None and (cookie := console_session.token_from_cookie(request)):
        if not console_session.csrf_ok(request):
            raise errors.Forbidden("The console's X-CSRF-Token header is missing or wrong.")
        token = cookie
    else:
        scheme, _, token = (header or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise errors.Unauthorized("Send 'Authorization: Bearer <token>'.")
    actor = await _verified(runtime, token.strip())
    if runtime.limiter is not None and actor.id is not None:
        await runtime.limiter.check(str(actor.id))
    request.state.actor = actor
    refused = request.scope.get("state", {}).get(errors.QUERY_REFUSED)
    if refused is not None:  # hotline.guard: a query string no route may read
        raise refused
    return actor


async def _verified(runtime: Runtime, token: str) -> Actor:
    """The token's actor, from a cache kept at most HOTLINE_TOKEN_CACHE_SECONDS (so a
    revocation holds on every process within that time) and never past the token's expiry."""
    key = auth.hash_token(token)
    now = runtime.clock.now()
    cached = runtime.tokens.get(key)
    if cached is not None:
        actor, lapses, expires_at = cached
        if lapses > time.monotonic() and (expires_at is None or expires_at > now):
            return actor
        del runtime.tokens[key]
    async with runtime.db.reading() as session:
        actor, expires_at = await auth.authenticate_until(session, token, now)
    ttl = runtime.settings.token_cache_seconds
    if expires_at is not None:
        ttl = min(ttl, (expires_at - now).total_seconds())
    if ttl > 0:
        if len(runtime.tokens) > 10_000:
            runtime.tokens.clear()
        runtime.tokens[key] = (actor, time.monotonic() + ttl, expires_at)
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
    (status, body, headers), _replayed = await idempotent(request, runtime, actor, handler)
    if status == 204:  # a DELETE: no body, replayed alike
        return Response(status_code=204, headers=headers)
    return JSONOut(body, status_code=status, headers=headers)


async def idempotent(
    request: Request,
    runtime: Runtime,
    actor: Actor,
    handler: Callable[[AsyncSession], Awaitable[Answer]],
) -> tuple[Answer, bool]:
    """``handler``'s answer in one committed transaction, or the answer stored for the
    request's ``Idempotency-Key`` (with ``Idempotent-Replayed``), and whether it was
    replayed; for a route that renders the answer itself (``write``: as JSON)."""
    key = request.headers.get("idempotency-key")
    # Only a keyed request is fingerprinted and has its answer stored (as JSON reads back).
    fingerprint = (
        ""
        if key is None
        else idempotency.request_hash(request.method, request.url.path, await request.body())
    )
    assert actor.id is not None
    async with runtime.db.transaction(write=True) as session:

        async def run() -> Answer:
            status, body, headers = await handler(session)
            return status, body if key is None else plain(body), headers

        (status, body, headers), replayed = await idempotency.run(
            session,
            principal_id=actor.id,
            key=key,
            fingerprint=fingerprint,
            now=runtime.clock.now(),
            ttl=runtime.settings.idempotency_ttl,
            handler=run,
            seal=runtime.vault.encrypt,
            unseal=runtime.vault.decrypt,
        )
    if replayed:
        headers = {**headers, idempotency.REPLAYED_HEADER: "true"}
    return (status, body, headers), replayed
