"""The database layer against real servers: dropped connections are replaced, reads
never write, queued rows are written with their transaction or not at all."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import asyncpg
import pytest
import sqlalchemy as sa

from hotline.db import Database, among, append, values_of
from hotline.routing.models import Department, RoutingRule
from hotline.tickets.models import Ticket


async def _backend_pid(db: Database) -> int:
    return int((await db.peek(sa.select(sa.func.pg_backend_pid())))[0])


async def test_a_connection_dropped_while_idle_is_replaced(database_url: str) -> None:
    """A pooled connection that sat idle is pinged before use; one the server terminated
    meanwhile (a restart, a firewall's idle timeout) is replaced, and the caller never
    sees the error."""
    if database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL's pool only: SQLite has no server to drop connections")
    db = Database(database_url, pool_size=1, idle_ping=0.05)
    try:
        first = await _backend_pid(db)
        dsn = database_url.replace("postgresql+asyncpg", "postgresql")
        admin = await asyncpg.connect(dsn)
        try:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", first)
        finally:
            await admin.close()
        await asyncio.sleep(0.1)  # idle longer than idle_ping
        second = await _backend_pid(db)
        assert second != first
        async with db.transaction() as session:  # and the pool keeps working
            assert (await session.execute(sa.select(sa.literal(1)))).scalar_one() == 1
    finally:
        await db.dispose()


async def test_a_connection_in_steady_use_is_not_pinged(database_url: str) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL's pool only")
    db = Database(database_url, pool_size=1, idle_ping=60.0)
    statements: list[str] = []
    sa.event.listen(
        db.engine.sync_engine,
        "before_cursor_execute",
        lambda _c, _cur, statement, *_rest: statements.append(statement),
    )
    pings = 0
    original = db.engine.dialect.do_ping

    def counting_ping(dbapi_connection: object) -> bool:
        nonlocal pings
        pings += 1
        return bool(original(dbapi_connection))

    db.engine.dialect.do_ping = counting_ping  # type: ignore[method-assign]
    try:
        for _ in range(5):
            await db.peek(sa.select(sa.literal(1)))
        assert pings == 0
        assert len(statements) == 5
    finally:
        await db.dispose()


async def test_a_read_session_refuses_to_write(database_url: str) -> None:
    """Reads never commit (on PostgreSQL they run in autocommit, with no transaction):
    a write slipped into one fails loudly instead of vanishing."""
    db = Database(database_url)
    now = datetime.now(UTC)
    try:
        async with db.reading() as session:
            session.add(
                Department(code="ro", name="ro", platform="x", created_at=now, updated_at=now)
            )
            with pytest.raises(RuntimeError, match="read session cannot write"):
                await session.flush()
            await session.rollback()
        async with db.reading() as session:
            assert await session.get(Department, "ro") is None
    finally:
        await db.dispose()


async def test_among_matches_a_bound_list_with_one_statement_text(database_url: str) -> None:
    """``among(column, name)`` finds the rows whose column is in the list given at
    execution, for lists of any length; on PostgreSQL the statement's text is the same
    for every length (one array parameter, not a placeholder per element)."""
    db = Database(database_url)
    now = datetime.now(UTC)
    codes = [f"among-{i}" for i in range(5)]
    stmt = (
        sa.select(Department.code).where(among(Department.code, "codes")).order_by(Department.code)
    )
    texts: set[str] = set()
    sa.event.listen(
        db.engine.sync_engine,
        "before_cursor_execute",
        lambda _c, _cur, statement, *_rest: texts.add(statement),
    )
    try:
        async with db.transaction() as session:
            for code in codes:
                session.add(
                    Department(code=code, name=code, platform="x", created_at=now, updated_at=now)
                )
        texts.clear()
        for wanted in ([], codes[:1], codes[1:4], [*codes, "absent"]):
            async with db.reading() as session:
                found = list((await session.scalars(stmt, {"codes": wanted})).all())
            assert found == sorted(c for c in wanted if c in codes)
        if not db.is_sqlite:
            assert len(texts) == 1, texts
            assert "ANY" in next(iter(texts))
    finally:
        async with db.transaction() as session:
            await session.execute(sa.delete(Department).where(Department.code.in_(codes)))
        await db.dispose()


async def test_appended_rows_follow_their_transaction(database_url: str) -> None:
    """``append`` queues insert-only rows: a flush writes them after the entities they
    reference (a rule naming a department added in the same transaction), a commit writes
    them even when nothing else was pending, a rollback drops them, and a read session
    refuses them. Tables are written referenced first, whatever order they were queued in."""
    db = Database(database_url)
    now = datetime.now(UTC)
    codes = ["app-flush", "app-commit", "app-rollback", "app-order"]

    def department(code: str) -> dict[str, object]:
        return {"code": code, "name": code, "platform": "x", "created_at": now, "updated_at": now}

    def rule(code: str) -> dict[str, object]:
        sla = {"callback_sla": "PT24H", "resolution_sla": "P5D", "calendar": "natural"}
        return {"department_code": code, "created_at": now, **sla}

    async def failing(flush: bool) -> None:
        async with db.transaction() as session:
            append(session, Department, department("app-rollback"))
            if flush:
                await session.flush()
            raise LookupError("the change fails")

    async def present() -> set[str]:
        async with db.reading() as session:
            stmt = sa.select(Department.code).where(Department.code.in_(codes))
            return set((await session.scalars(stmt)).all())

    try:
        async with db.transaction() as session:
            session.add(Department(**department("app-flush")))
            append(session, RoutingRule, rule("app-flush"))  # references the department above
            await session.flush()
            found = await session.scalar(
                sa.select(sa.func.count()).where(RoutingRule.department_code == "app-flush")
            )
            assert found == 1  # written by the flush, inside the transaction
        async with db.transaction() as session:
            append(session, Department, department("app-commit"))  # nothing else pending
        async with db.transaction() as session:
            append(session, RoutingRule, rule("app-order"))  # queued before what it names
            append(session, Department, department("app-order"))
        for flushed in (True, False):
            with pytest.raises(LookupError):
                await failing(flushed)
        assert await present() == {"app-flush", "app-commit", "app-order"}
        async with db.reading() as session:
            with pytest.raises(RuntimeError, match="read session cannot write"):
                append(session, Department, department("app-read"))
    finally:
        async with db.transaction() as session:
            await session.execute(
                sa.delete(RoutingRule).where(RoutingRule.department_code.in_(codes))
            )
            await session.execute(sa.delete(Department).where(Department.code.in_(codes)))
        await db.dispose()


async def test_an_appended_entity_is_stored_as_the_unit_of_work_stores_it(
    database_url: str,
) -> None:
    """``values_of`` takes the attributes an entity was given: one left unset is NULL, not
    JSON ``null`` (a ticket's ``pending_extension``), and rows of one table given different
    columns are written each with its own (two rules, one with a topic)."""
    db = Database(database_url)
    now = datetime.now(UTC)

    def ticket(number: str) -> Ticket:
        return Ticket(
            id=uuid.uuid4(),
            number=number,
            kind="petition",
            channel="phone",
            category="complaint",
            urgency="normal",
            content="停水",
            caller_special_groups=[],
            location=None,
            skills=[],
            status="received",
            sla={},
            created_at=now,
            updated_at=now,
        )

    numbers = ["append-orm", "append-rows"]
    try:
        async with db.transaction() as session:
            session.add(
                Department(
                    code="app-shapes", name="x", platform="x", created_at=now, updated_at=now
                )
            )
            session.add(ticket(numbers[0]))
            append(session, Ticket, values_of(ticket(numbers[1])))
            sla = {"callback_sla": "PT24H", "resolution_sla": "P5D", "calendar": "natural"}
            rule = {"department_code": "app-shapes", "created_at": now, **sla}
            append(session, RoutingRule, {**rule, "topic": "water_supply"})
            append(session, RoutingRule, rule)
        async with db.reading() as session:
            stored = (
                await session.execute(
                    sa.select(
                        Ticket.number,
                        Ticket.pending_extension.is_(None),
                        Ticket.location.is_(None),
                        Ticket.version,
                    )
                    .where(Ticket.number.in_(numbers))
                    .order_by(Ticket.number)
                )
            ).all()
            topics = (
                await session.scalars(
                    sa.select(RoutingRule.topic).where(RoutingRule.department_code == "app-shapes")
                )
            ).all()
        assert [tuple(r[1:]) for r in stored] == [(True, False, 1)] * 2  # location: JSON null
        assert sorted(topics, key=str) == [None, "water_supply"]
    finally:
        async with db.transaction() as session:
            await session.execute(sa.delete(Ticket).where(Ticket.number.in_(numbers)))
            await session.execute(
                sa.delete(RoutingRule).where(RoutingRule.department_code == "app-shapes")
            )
            await session.execute(sa.delete(Department).where(Department.code == "app-shapes"))
        await db.dispose()
