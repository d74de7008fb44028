"""Test fixtures: every test runs against SQLite and PostgreSQL, each a real database
built by the migrations, through the real app over ASGI, with a clock the test moves."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from hotline.app import create_app
from hotline.auth import service as auth
from hotline.clock import FrozenClock
from hotline.config import Settings
from hotline.disputes import service as disputes
from hotline.migrate import upgrade
from hotline.models import metadata
from hotline.runtime import Runtime
from hotline.sla.sweeper import SweepReport
from hotline.worker import Worker

PG_HOST = os.environ.get("HOTLINE_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("HOTLINE_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("HOTLINE_TEST_PG_USER", "postgres")
PG_ADMIN_DB = os.environ.get("HOTLINE_TEST_PG_DATABASE", "test")
ADMIN_TOKEN = "htl_test_admin_token"
DATA_KEY = "dGVzdC1kYXRhLWtleS10ZXN0LWRhdGEta2V5LTMyYiE="  # 32 bytes, tests only
START = datetime(2026, 11, 23, 1, 30, tzinfo=UTC)  # a Monday, 09:30 in Shanghai
# A petition as an operator registers it; routed to "water" by the usual test rule.
TICKET: dict[str, Any] = {
    "kind": "petition",
    "channel": "hotline",
    "category": "help",
    "topic": "water_supply",
    "content": "水管破裂,请尽快处理",
    "caller": {"name": "张三", "phone": "13800001234"},
    "location": {"grid": "G-07", "address": "幸福路 1 号"},
}


async def _pg_reachable() -> str | None:
    try:
        conn = await asyncpg.connect(
            host=PG_HOST, port=PG_PORT, user=PG_USER, database=PG_ADMIN_DB, timeout=3
        )
    except (OSError, asyncpg.PostgresError) as exc:
        return f"{type(exc).__name__}: {exc}"
    await conn.close()
    return None


async def require_postgres(missing: str) -> None:
    """Skip unless PostgreSQL answers; under CI its absence is a failure. ``missing`` says
    what is not run without it."""
    problem = await _pg_reachable()
    if problem is None:
        return
    message = f"PostgreSQL is not reachable at {PG_HOST}:{PG_PORT} ({problem}); {missing}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " - under CI this is a failure", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
async def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """A fresh, migrated database for this run (PostgreSQL: created here, dropped after)."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "hotline.db"
        url = f"sqlite+aiosqlite:///{path}"
        await upgrade(url)
        yield url
        return
    await require_postgres("the PostgreSQL half of the suite is NOT run, only SQLite")
    name = f"hotline_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database=PG_ADMIN_DB)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    try:
        await upgrade(url)
        yield url
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(scope="session")
def backend(database_url: str) -> str:
    return "sqlite" if database_url.startswith("sqlite") else "postgresql"


@dataclass
class Env:
    app: FastAPI
    clock: FrozenClock
    settings: Settings

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime


@pytest.fixture(scope="session")
async def app_env(database_url: str) -> AsyncIterator[Env]:
    clock = FrozenClock(START)
    settings = Settings(
        database_url=database_url,
        bootstrap_token=ADMIN_TOKEN,
        data_key=DATA_KEY,
        log_json=True,
        log_level="WARNING",
        db_pool_size=5,
    )
    app = create_app(settings, clock)
    async with app.router.lifespan_context(app):
        yield Env(app=app, clock=clock, settings=settings)


TABLES = [t.name for t in reversed(metadata.sorted_tables)]


async def _wipe(env: Env) -> None:
    async with env.runtime.db.transaction() as session:
        if env.runtime.db.is_sqlite:
            for table in TABLES:
                await session.execute(sa.text(f"DELETE FROM {table}"))
        else:
            await session.execute(sa.text(f"TRUNCATE {', '.join(TABLES)} CASCADE"))
        await auth.ensure_bootstrap_admin(session, ADMIN_TOKEN, env.clock.now())
        await disputes.ensure_default_kinds(session, env.clock.now())
    env.runtime.tokens.clear()  # cached principals were just deleted
    env.runtime.db.reference.clear()


@pytest.fixture
async def env(app_env: Env) -> Env:
    """The app with an empty database (but the bootstrap admin) and the clock at START."""
    app_env.clock.set(START)
    await _wipe(app_env)
    return app_env


@pytest.fixture
async def client(env: Env) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=env.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://hotline.test") as c:
        yield c


@pytest.fixture
def api(client: httpx.AsyncClient, env: Env) -> Api:
    return Api(client, env)


def problem(r: httpx.Response, status: int, type_: str, what: str = "") -> dict[str, Any]:
    """The answer is this problem+json; ``what`` names the attempt in a failure."""
    where = f"{r.request.method} {r.request.url.path} {what}"
    assert r.status_code == status, f"{where}: {r.status_code} {r.text}"
    assert r.headers["content-type"].startswith("application/problem+json"), where
    body: dict[str, Any] = r.json()
    assert body["type"] == type_, f"{where}: {body}"
    return body


class Api:
    """A thin client that speaks as one principal at a time, with small factories."""

    def __init__(self, client: httpx.AsyncClient, env: Env, token: str = ADMIN_TOKEN) -> None:
        self.client = client
        self.env = env
        self.token = token

    def as_(self, token: str) -> Api:
        return Api(self.client, self.env, token)

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **(extra or {})}

    async def get(self, path: str, **kw: Any) -> httpx.Response:
        return await self.client.get(path, headers=self._headers(kw.pop("headers", None)), **kw)

    async def post(self, path: str, json: Any = None, **kw: Any) -> httpx.Response:
        return await self.client.post(
            path, json=json, headers=self._headers(kw.pop("headers", None)), **kw
        )

    async def patch(self, path: str, json: Any = None, **kw: Any) -> httpx.Response:
        return await self.client.patch(
            path, json=json, headers=self._headers(kw.pop("headers", None)), **kw
        )

    async def put(self, path: str, json: Any = None, **kw: Any) -> httpx.Response:
        return await self.client.put(
            path, json=json, headers=self._headers(kw.pop("headers", None)), **kw
        )

    async def delete(self, path: str, **kw: Any) -> httpx.Response:
        return await self.client.delete(path, headers=self._headers(kw.pop("headers", None)), **kw)

    # -- factories -------------------------------------------------------------

    async def department(
        self, code: str = "water", platform: str = "convenience"
    ) -> dict[str, Any]:
        r = await self.as_(ADMIN_TOKEN).post(
            "/v1/departments", {"code": code, "name": f"{code} 部门", "platform": platform}
        )
        assert r.status_code == 201, r.text
        return dict(r.json())

    async def rule(self, **fields: Any) -> dict[str, Any]:
        r = await self.as_(ADMIN_TOKEN).post("/v1/routing-rules", fields)
        assert r.status_code == 201, r.text
        return dict(r.json())

    async def principal(self, role: str, **fields: Any) -> str:
        body = {"name": f"{role}-{uuid.uuid4().hex[:6]}", "role": role, **fields}
        r = await self.as_(ADMIN_TOKEN).post("/v1/principals", body)
        assert r.status_code == 201, r.text
        return str(r.json()["token"])

    async def ticket(self, **fields: Any) -> dict[str, Any]:
        body = {**TICKET, **fields}
        r = await self.post("/v1/tickets", body)
        assert r.status_code == 201, r.text
        return dict(r.json())

    async def act(
        self,
        ticket: dict[str, Any] | str,
        action: str,
        body: Any = None,
        expect: int = 200,
        **kw: Any,
    ) -> dict[str, Any]:
        ticket_id = ticket if isinstance(ticket, str) else ticket["id"]
        r = await self.post(
            f"/v1/tickets/{ticket_id}/actions/{action}", {} if body is None else body, **kw
        )
        assert r.status_code == expect, f"{action}: {r.status_code} {r.text}"
        return dict(r.json())


async def sweep(env: Env) -> SweepReport:
    """One tick of the background worker (the SLA sweeper) at the clock's instant."""
    worker = Worker(env.runtime)
    try:
        return await worker.tick()
    finally:
        await worker.close()


# -- PostgreSQL's plans and the statements sent ------------------------------------------


async def plan_nodes(
    session: AsyncSession, stmt: sa.Executable, params: dict[str, Any] | None = None
) -> set[str]:
    """The node types of ``stmt``'s plan in this session's transaction, each with the index
    it reads (``"Index Scan ix_..."``, ``"Sort"``)."""
    compiled = stmt.compile(dialect=session.get_bind().dialect)
    values = compiled.construct_params(params)
    positional = tuple(values[name] for name in compiled.positiontup or ())
    conn = await session.connection()
    result = await conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + compiled.string, positional)
    found: set[str] = set()

    def walk(node: dict[str, Any]) -> None:
        found.add(f"{node['Node Type']} {node.get('Index Name', '')}".strip())
        for child in node.get("Plans", []):
            walk(child)

    walk(result.scalar_one()[0]["Plan"])
    return found


@contextmanager
def statements_sent(engine: AsyncEngine) -> Iterator[list[str]]:
    """The SQL statements ``engine`` sends inside the block, in order."""
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        sent.append(statement)

    sa.event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        sa.event.remove(engine.sync_engine, "before_cursor_execute", record)


@asynccontextmanager
async def statistics_frozen(env: Env, table: str) -> AsyncIterator[None]:
    """Autovacuum leaves ``table`` alone inside the block: its statistics are those of the
    block's own ``ANALYZE``, however many rows arrive after it."""
    async with env.runtime.db.transaction() as session:
        await session.execute(sa.text(f"ALTER TABLE {table} SET (autovacuum_enabled = off)"))
    try:
        yield
    finally:
        async with env.runtime.db.transaction() as session:
            await session.execute(sa.text(f"ALTER TABLE {table} RESET (autovacuum_enabled)"))
