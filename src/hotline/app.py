"""The FastAPI application: create_app() wires routers, errors and the lifespan."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from hotline import __version__, errors, logs
from hotline.actions import bodies
from hotline.admission import AdmissionMiddleware
from hotline.auth import service as auth
from hotline.auth.router import router as principals_router
from hotline.clock import Clock, SystemClock
from hotline.config import Settings
from hotline.console.router import router as console_router
from hotline.db import Database, lock_key, xact_lock
from hotline.disputes import service as disputes
from hotline.disputes.router import router as disputes_router
from hotline.disputes.transitions import DISPUTES
from hotline.grids.router import router as grids_router
from hotline.guard import GuardMiddleware
from hotline.limiter import RateLimiter
from hotline.members.router import router as members_router
from hotline.observe import ObserveMiddleware
from hotline.open311.router import refusal_for_path
from hotline.open311.router import router as open311_router
from hotline.ops import router as ops_router
from hotline.privacy import vault
from hotline.privacy.router import router as privacy_router
from hotline.routing.router import router as routing_router
from hotline.runtime import Runtime, settle_gc
from hotline.sla import service as sla
from hotline.sla.calendar import WorkingCalendar
from hotline.sla.router import router as calendar_router
from hotline.stats.router import router as stats_router
from hotline.supervision.router import CaseNoteBody
from hotline.supervision.router import router as supervision_router
from hotline.tickets.router import router as tickets_router
from hotline.tickets.transitions import TICKETS
from hotline.webhooks.router import router as webhooks_router
from hotline.worker import Worker

log = structlog.get_logger(__name__)


async def start_runtime(settings: Settings, clock: Clock) -> Runtime:
    """Build the shared resources and prepare the data a start needs."""
    db = Database(
        settings.database_url,
        pool_size=settings.db_pool_size,
        reference_ttl=settings.reference_cache_seconds,
    )
    keys = vault.load(
        settings.data_key, settings.data_keys_old, settings.key_file, embedded=settings.is_sqlite
    )
    runtime = Runtime(
        settings=settings,
        db=db,
        clock=clock,
        calendar=WorkingCalendar(settings.timezone),
        keys=keys,
        limiter=RateLimiter(settings.rate_limit, settings.rate_limit_storage),
    )
    async with db.transaction() as session:
        # Replicas starting together seed the same rows: one at a time, the others then
        # find them there.
        await xact_lock(session, lock_key("hotline", "start-up"))
        runtime.calendar_seen = await sla.load_calendar(session, runtime.calendar)
        await disputes.ensure_default_kinds(session, clock.now())
        if settings.bootstrap_token:
            if await auth.ensure_bootstrap_admin(session, settings.bootstrap_token, clock.now()):
                log.info("bootstrap_admin_created")
    sla.warn_missing_calendar(runtime.calendar, clock.now(), settings.timezone)
    return runtime


def create_app(
    settings: Settings | None = None,
    clock: Clock | None = None,
    *,
    run_workers: bool = False,
    long_running: bool = False,
) -> FastAPI:
    """The application; ``run_workers`` also runs the background workers in its lifespan;
    ``long_running`` (``hotline serve``) settles the garbage collector once started."""
    settings = settings or Settings()
    clock = clock or SystemClock()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        logs.configure(settings.log_level, json=settings.log_json)
        runtime = await start_runtime(settings, clock)
        app.state.runtime = runtime
        if long_running:
            settle_gc()
        worker = Worker(runtime) if run_workers else None
        task = asyncio.create_task(worker.run()) if worker else None
        try:
            yield
        finally:
            if worker is not None and task is not None:
                worker.stop.set()
                await task
            if runtime.limiter is not None:
                await runtime.limiter.aclose()
            await runtime.db.dispose()

    app = FastAPI(
        title="hotline",
        version=__version__,
        summary="Tickets for a grassroots petition hotline (初心热线, 群众点单).",
        lifespan=lifespan,
    )
    # Open311's clients read GeoReport's error format, not problem+json.
    refusals = {"/open311/": refusal_for_path}
    errors.install(app, refusals)
    # Inside the guard: a slow client's body is read before its request takes a slot.
    app.add_middleware(AdmissionMiddleware, limit=settings.db_pool_size)
    app.add_middleware(GuardMiddleware, max_body_bytes=settings.max_body_bytes, refusals=refusals)
    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
    if origins:  # CORS is off unless origins are listed
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "If-Match"],
            expose_headers=["ETag", "Idempotent-Replayed", "Retry-After", "X-Request-ID"],
        )
    app.add_middleware(ObserveMiddleware)
    # Starlette tries routes in order: the hottest paths (tickets) first.
    routers = (
        tickets_router,
        ops_router,
        principals_router,
        routing_router,
        calendar_router,
        members_router,
        grids_router,
        disputes_router,
        privacy_router,
        supervision_router,
        stats_router,
        open311_router,
        webhooks_router,
        console_router,
    )
    for router in routers:
        app.include_router(router)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _common_problems(path: str, method: str) -> list[tuple[str, str]]:
    """What any route of this kind may answer besides its own: authentication, scope,
    roles, validation and rate limits on the API; the input guard on bodies."""
    if path.startswith("/console/session"):
        return [("401", "The token is unknown, revoked or expired"), ("422", "Validation failed")]
    if not path.startswith("/v1/"):
        return []
    common = [
        ("401", "No valid bearer token"),
        ("403", "The role may not do this"),
        ("404", "No such resource within the caller's scope"),
        ("422", "Validation failed"),
        ("429", "Rate limit reached (see Retry-After)"),
    ]
    if method in ("post", "put", "patch"):
        common += [
            ("409", "Conflicts with the current state"),
            ("413", "Body too large"),
            ("415", "Not JSON"),
        ]
    return common


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """The generated document, plus the action bodies the action routes reference."""
    doc = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    models: list[type[BaseModel]] = [
        *bodies(TICKETS),
        *bodies(DISPUTES),
        CaseNoteBody,
        errors.Problem,
    ]
    for model in models:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    problem = {errors.PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path, operations in doc["paths"].items():
        if path.startswith("/open311/"):
            continue  # GeoReport's own error format, declared by its routes
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            for code, description in _common_problems(path, method):
                responses.setdefault(code, {"description": description})
            for code, response in responses.items():
                if code.isdigit() and int(code) >= 400:
                    response["content"] = problem
                    response.setdefault("description", errors.title_of(int(code)))
    return doc
