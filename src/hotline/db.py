"""Database access: the declarative base, column types that behave alike on
PostgreSQL and SQLite, engines and sessions, and the few places where the two
databases differ."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import orjson
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, aggregate_order_by
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Session
from sqlalchemy.sql.visitors import InternalTraversal

from hotline import jsonutil

T = TypeVar("T")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timezone-aware instant stored in UTC.

    SQLite keeps timestamps as text and compares them as text, so there we
    store naive UTC in one fixed format; PostgreSQL gets ``timestamptz``.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; attach a timezone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def result_processor(self, dialect: Dialect, coltype: object) -> Any:
        # asyncpg reads timestamptz as datetimes in UTC already: no call per value (a
        # list page reads 900 of them).
        if dialect.name == "postgresql" and dialect.driver == "asyncpg":
            return None
        return super().result_processor(dialect, coltype)


JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads this class attribute
        datetime: UTCDateTime(),
        uuid.UUID: sa.Uuid(),
        dict[str, Any]: JSONType,
        list[str]: JSONType,
        list[dict[str, Any]]: JSONType,
    }


def new_id() -> uuid.UUID:
    return uuid.uuid4()


_JSON: dict[str, Any] = {"json_serializer": jsonutil.dumps_str, "json_deserializer": orjson.loads}


def _sqlite_setup(engine: AsyncEngine, *, immediate: bool) -> None:
    # pysqlite's own transaction handling begins lazily and cannot take the
    # write lock up front; take over BEGIN so a writing transaction holds the
    # lock from its first statement and read-modify-write cannot interleave.
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


IDLE_PING_SECONDS = 10.0


def _ping_when_idle(engine: AsyncEngine, idle: float) -> None:
    """Pessimistic disconnect handling without a round trip per checkout (what
    ``pool_pre_ping`` costs every request): a connection that sat in the pool longer than
    ``idle`` seconds is pinged before use and replaced if the server dropped it (a restart,
    a firewall's idle timeout); a connection in steady use is not pinged."""

    @event.listens_for(engine.sync_engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["checked_in"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("checked_in")
        if since is None or time.monotonic() - since < idle:
            return  # new, or used a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # the pool retries with a new connection
            raise sa.exc.DisconnectionError("idle connection lost") from exc


READ_ONLY = "read_only"


@event.listens_for(Session, "before_flush")
def _refuse_writes_in_reads(session: Session, _context: Any, _instances: Any) -> None:
    """A read session never commits (on PostgreSQL it has no transaction to commit):
    anything added to one would be lost without a word, so it is refused loudly."""
    if session.info.get(READ_ONLY) and (session.new or session.dirty or session.deleted):
        raise RuntimeError("a read session cannot write: use Database.transaction()")


APPENDS = "appends"


def append(session: AsyncSession, model: type[Base], row: dict[str, Any]) -> None:
    """Queue a row to insert that this transaction will not change again (timeline events,
    outbox deliveries, a new ticket and its first timers): the session's next flush writes
    it after the entities it may reference, or its commit does, one executemany per table,
    without the unit of work's bookkeeping per row (a tenth of a create's CPU when events
    were entities). A rollback drops what is queued. Until then the row is only in this
    queue: a query in the same transaction finds it only after a flush that had entities
    to write."""
    if session.info.get(READ_ONLY):
        raise RuntimeError("a read session cannot write: use Database.transaction()")
    table = cast(sa.Table, model.__table__)
    session.info.setdefault(APPENDS, {}).setdefault(table, []).append(row)


def values_of(entity: Base) -> dict[str, Any]:
    """A transient entity's column values as a row for ``append``: the attributes it was
    given, as the unit of work would insert them (one left unset takes the column's
    default or NULL; a JSON column given None would hold JSON ``null`` instead)."""
    state = entity.__dict__
    return {c.key: state[c.key] for c in entity.__table__.columns if c.key in state}


_RANKS: dict[sa.Table, int] = {}


def _rank(table: sa.Table) -> int:
    """The table's place in dependency order: a referenced table before those naming it
    (computed once, again when a table appears that was not imported then)."""
    if table not in _RANKS:
        _RANKS.update({t: i for i, t in enumerate(Base.metadata.sorted_tables)})
    return _RANKS[table]


def _write_appends(session: Session) -> None:
    queued: dict[sa.Table, list[dict[str, Any]]] | None = session.info.pop(APPENDS, None)
    if queued:
        conn = session.connection()
        for table in sorted(queued, key=_rank):
            # One statement per set of columns given (almost always one per table): a
            # multi-row INSERT takes its columns from the first row.
            shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
            for row in queued[table]:
                shapes.setdefault(tuple(row), []).append(row)
            for rows in shapes.values():
                conn.execute(table.insert(), rows)


@event.listens_for(Session, "after_flush_postexec")
def _appends_after_flush(session: Session, _context: Any) -> None:
    _write_appends(session)


@event.listens_for(Session, "before_commit")
def _appends_before_commit(session: Session) -> None:
    session.flush()  # the entities first, then (after_flush_postexec) the queued rows
    _write_appends(session)  # queued while the session had nothing else to flush


async def flush_all(session: AsyncSession) -> None:
    """Write everything pending, the queued rows included, before a Core read (``rows``)
    that must see them: a flush with no entity to write writes no queued row."""
    await session.flush()
    await session.run_sync(_write_appends)


@event.listens_for(Session, "after_soft_rollback")
def _appends_dropped(session: Session, _previous: Any) -> None:
    session.info.pop(APPENDS, None)


class ReferenceCache:
    """Per-process copies of small tables read on every change and rarely written (routing
    rules, webhook subscriptions), kept at most ``ttl`` seconds. A write through this
    process clears them at once; other processes see it within ``ttl``."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._items: dict[str, tuple[float, Any]] = {}

    async def get(self, name: str, load: Callable[[], Awaitable[T]]) -> T:
        found = self._items.get(name)
        if found is not None and found[0] > time.monotonic():
            return cast(T, found[1])
        value = await load()
        if self.ttl > 0:
            self._items[name] = (time.monotonic() + self.ttl, value)
        return value

    def clear(self) -> None:
        self._items.clear()


async def cached(session: AsyncSession, name: str, load: Callable[[], Awaitable[T]]) -> T:
    """``load()`` through the session's database's reference cache, if it has one."""
    cache = session.info.get("reference")
    return await cache.get(name, load) if isinstance(cache, ReferenceCache) else await load()


def invalidate(session: AsyncSession) -> None:
    cache = session.info.get("reference")
    if isinstance(cache, ReferenceCache):
        cache.clear()


class Database:
    """Engines and session factories for one database URL.

    On PostgreSQL one engine serves reads and writes. On SQLite, writes go
    through an engine whose transactions start with ``BEGIN IMMEDIATE`` (one
    writer at a time, as SQLite allows anyway) while reads stay concurrent.
    """

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        reference_ttl: float = 0.0,
        idle_ping: float = IDLE_PING_SECONDS,
    ) -> None:
        self.url = url
        self.reference = ReferenceCache(reference_ttl)
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            self.engine = create_async_engine(url, connect_args={"timeout": 30}, **_JSON)
            self.write_engine = create_async_engine(url, connect_args={"timeout": 30}, **_JSON)
            _sqlite_setup(self.engine, immediate=False)
            _sqlite_setup(self.write_engine, immediate=True)
        else:
            self.engine = create_async_engine(
                url, pool_size=pool_size, max_overflow=pool_size, **_JSON
            )
            self.write_engine = self.engine
            _ping_when_idle(self.engine, idle_ping)
        info = {"reference": self.reference}
        reads = {**info, READ_ONLY: True}
        self._read = async_sessionmaker(self.engine, expire_on_commit=False, info=reads)
        self._write = async_sessionmaker(self.write_engine, expire_on_commit=False, info=info)
        # Reads and single statements outside a transaction: on PostgreSQL in autocommit,
        # without BEGIN/COMMIT (two round trips fewer per request).
        self._outside = (
            self.engine
            if self.is_sqlite
            else self.engine.execution_options(isolation_level="AUTOCOMMIT")
        )
        self._autocommit = async_sessionmaker(self._outside, expire_on_commit=False, info=reads)

    def session(self, *, write: bool) -> AsyncSession:
        return (self._write if write else self._read)()

    @asynccontextmanager
    async def transaction(self, *, write: bool = True) -> AsyncIterator[AsyncSession]:
        """One unit of work: commits when the block ends, rolls back on error."""
        async with self.session(write=write) as session, session.begin():
            yield session

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        """A session for reads only. On PostgreSQL in autocommit: each statement is one
        round trip, with no BEGIN and COMMIT around them (a READ COMMITTED transaction
        gives each statement its own snapshot all the same). On SQLite, one read
        transaction."""
        if self.is_sqlite:
            async with self._read() as session, session.begin():
                yield session
        else:
            async with self._autocommit() as session:
                yield session

    async def peek(self, stmt: sa.Executable, params: dict[str, Any] | None = None) -> sa.Row[Any]:
        """One statement outside any transaction, its one row: on PostgreSQL in autocommit,
        a single round trip (no BEGIN/COMMIT) and committed at once if it writes; on SQLite
        a plain read."""
        async with self._outside.connect() as conn:
            row: sa.Row[Any] = (await conn.execute(stmt, params)).one()
            return row

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.write_engine is not self.engine:
            await self.write_engine.dispose()


async def rows(
    session: AsyncSession, stmt: sa.Executable, params: dict[str, Any] | None = None
) -> Sequence[sa.Row[Any]]:
    """A read's rows through the session's connection (Core execution): no ORM result
    set-up or entities, for what is only rendered."""
    conn = await session.connection()
    return (await conn.execute(stmt, params)).all()


def lock_key(*parts: str) -> int:
    """A stable signed 64-bit key for PostgreSQL advisory locks."""
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def try_xact_lock(session: AsyncSession, key: int) -> bool:
    """Take a transaction-scoped advisory lock without waiting.

    SQLite has a single writer already, so the lock is implicit there.
    """
    if dialect_name(session) != "postgresql":
        return True
    result = await session.execute(sa.select(sa.func.pg_try_advisory_xact_lock(key)))
    return bool(result.scalar_one())


async def xact_lock(session: AsyncSession, key: int) -> None:
    """Wait for a transaction-scoped advisory lock (SQLite's writer lock serialises already)."""
    if dialect_name(session) == "postgresql":
        await session.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))


@asynccontextmanager
async def in_index_order(session: AsyncSession) -> AsyncIterator[None]:
    """Inside the block PostgreSQL reads ``ORDER BY ... LIMIT`` through an index that gives
    the order instead of sorting every matching row (``SET LOCAL enable_sort = off``; a sort
    is still made where no index gives the order); after it, its usual plans again.

    Its statistics lag behind a burst: a claim of the first 50 of 50,000 due rows, planned
    as if there were 80, sorted all of them on disk (350 ms, 80 MB) on every poll until the
    next ANALYZE, where the ordered index scan reads 50 (0.1 ms). Left on for the rest of a
    sweeper batch, the setting made its writes' plans worse (10,000 breaches 6 s -> 14 s),
    hence the block. SQLite plans without such statistics."""
    if dialect_name(session) != "postgresql":
        yield
        return
    await session.execute(sa.text("SET LOCAL enable_sort = off"))
    yield  # an error inside ends the transaction, and the setting with it
    await session.execute(sa.text("SET LOCAL enable_sort TO DEFAULT"))


def inline(value: str) -> sa.ColumnElement[str]:
    """A constant written into the SQL rather than bound: a partial index
    (``WHERE state = 'running'``) serves only queries that say so literally, and
    PostgreSQL's generic plans see bound parameters as unknown."""
    if "'" in value:
        raise ValueError("inline() takes plain codes only")
    return sa.literal_column(f"'{value}'", sa.String)


def dialect_name(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


class among(sa.sql.expression.ColumnElement[bool]):
    """``column`` is one of the list bound as ``:name`` at execution.

    On PostgreSQL ``column = ANY(:name)``: one array parameter and one statement text
    whatever the list's length. An expanding ``IN`` renders its statement anew on every
    execution, one placeholder per element (a tenth of a list page's CPU for 50 ids);
    other databases get that.
    """

    type = sa.Boolean()
    inherit_cache = True
    _traverse_internals = [  # noqa: RUF012 - SQLAlchemy reads it from the class
        ("column", InternalTraversal.dp_clauseelement),
        ("name", InternalTraversal.dp_string),
    ]

    def __init__(self, column: sa.ColumnElement[Any] | Any, name: str) -> None:
        self.column = column
        self.name = name


@compiles(among)
def _among(element: among, compiler: Any, **kw: Any) -> str:
    return str(
        compiler.process(element.column.in_(sa.bindparam(element.name, expanding=True)), **kw)
    )


@compiles(among, "postgresql")
def _among_pg(element: among, compiler: Any, **kw: Any) -> str:
    values = sa.bindparam(element.name, type_=ARRAY(element.column.type))
    return str(compiler.process(element.column == sa.any_(values), **kw))


class utc_text(sa.sql.expression.ColumnElement[str]):
    """An instant as ISO 8601 text in UTC ending in ``Z`` (``datetime.fromisoformat`` reads
    it as it is): for instants inside JSON built by the database."""

    type = sa.String()
    inherit_cache = True
    _traverse_internals = [  # noqa: RUF012 - SQLAlchemy reads it from the class
        ("column", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, column: sa.ColumnElement[Any] | Any) -> None:
        self.column = column


@compiles(utc_text)
def _utc_text(element: utc_text, compiler: Any, **kw: Any) -> str:
    # SQLite keeps instants as naive UTC text (UTCDateTime); NULL stays NULL.
    return f"({compiler.process(element.column, **kw)} || 'Z')"


@compiles(utc_text, "postgresql")
def _utc_text_pg(element: utc_text, compiler: Any, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    return f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""


class json_rows(sa.sql.expression.ColumnElement[list[list[Any]]]):
    """The rows of ``SELECT columns FROM source WHERE where ORDER BY order`` as one JSON array
    of arrays (``[]`` when none), in a subquery correlated to the enclosing statement: what
    belongs to each row read with the row itself, instead of one statement more per kind.

    On PostgreSQL ``json_agg(json_build_array(...) ORDER BY ...)``; elsewhere SQLite's
    ``json_group_array`` over the rows in order. Read as lists; instants in them are
    ``utc_text``.
    """

    type = sa.JSON()
    inherit_cache = True
    _traverse_internals = [  # noqa: RUF012 - SQLAlchemy reads it from the class
        ("postgresql", InternalTraversal.dp_clauseelement),
        ("other", InternalTraversal.dp_clauseelement),
    ]

    def __init__(
        self,
        source: sa.FromClause,
        columns: Sequence[sa.ColumnElement[Any]],
        where: Sequence[sa.ColumnElement[bool]],
        order: Sequence[sa.ColumnElement[Any]],
    ) -> None:
        shown = [utc_text(c) if isinstance(c.type, UTCDateTime) else c for c in columns]
        ordered = aggregate_order_by(sa.func.json_build_array(*shown), *order)
        self.postgresql = (
            sa.select(sa.func.coalesce(sa.func.json_agg(ordered), sa.literal_column("'[]'")))
            .select_from(source)
            .where(*where)
            .correlate_except(source)
            .scalar_subquery()
        )
        rows = (
            sa.select(sa.func.json_array(*shown).label("row"))
            .select_from(source)
            .where(*where)
            .order_by(*order)
            .correlate_except(source)
        )
        inner = rows.subquery()
        self.other = sa.select(
            sa.func.json_group_array(sa.func.json(inner.c.row))
        ).scalar_subquery()


@compiles(json_rows)
def _json_rows(element: json_rows, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.other, **kw))


@compiles(json_rows, "postgresql")
def _json_rows_pg(element: json_rows, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.postgresql, **kw))


class json_list(sa.sql.expression.ColumnElement[list[Any]]):
    """Several JSON values (``json_rows``) as one JSON array: one value to decode per row."""

    type = sa.JSON()
    inherit_cache = True
    _traverse_internals = [  # noqa: RUF012 - SQLAlchemy reads it from the class
        ("items", InternalTraversal.dp_clauseelement_tuple),
    ]

    def __init__(self, *items: sa.ColumnElement[Any]) -> None:
        self.items = items


@compiles(json_list)
def _json_list(element: json_list, compiler: Any, **kw: Any) -> str:
    # json() keeps each item JSON rather than a string holding JSON.
    items = ", ".join(f"json({compiler.process(i, **kw)})" for i in element.items)
    return f"json_array({items})"


@compiles(json_list, "postgresql")
def _json_list_pg(element: json_list, compiler: Any, **kw: Any) -> str:
    return f"json_build_array({', '.join(compiler.process(i, **kw) for i in element.items)})"


class _JsonArrayTest(sa.sql.expression.ColumnElement[bool]):
    """A test on a JSON array column against a list of strings, per dialect."""

    type = sa.Boolean()
    inherit_cache = True
    _traverse_internals = [  # noqa: RUF012 - SQLAlchemy reads it from the class
        ("column", InternalTraversal.dp_clauseelement),
        ("values", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, column: sa.ColumnElement[Any] | Any, values: list[str]) -> None:
        self.column = column
        self.values = sa.bindparam(None, jsonutil.dumps_str(sorted(set(values))), type_=sa.String)


class json_subset(_JsonArrayTest):
    """Every element of the column's array is in ``values``."""

    inherit_cache = True


class json_contains_all(_JsonArrayTest):
    """The column's array holds every one of ``values``."""

    inherit_cache = True


@compiles(json_subset, "postgresql")
def _subset_pg(element: json_subset, compiler: Any, **kw: Any) -> str:
    col, vals = compiler.process(element.column, **kw), compiler.process(element.values, **kw)
    return f"({col} <@ CAST({vals} AS JSONB))"


@compiles(json_subset, "sqlite")
def _subset_sqlite(element: json_subset, compiler: Any, **kw: Any) -> str:
    col, vals = compiler.process(element.column, **kw), compiler.process(element.values, **kw)
    return (
        f"(NOT EXISTS (SELECT 1 FROM json_each({col}) AS e "
        f"WHERE e.value NOT IN (SELECT value FROM json_each({vals}))))"
    )


@compiles(json_contains_all, "postgresql")
def _contains_pg(element: json_contains_all, compiler: Any, **kw: Any) -> str:
    col, vals = compiler.process(element.column, **kw), compiler.process(element.values, **kw)
    return f"({col} @> CAST({vals} AS JSONB))"


@compiles(json_contains_all, "sqlite")
def _contains_sqlite(element: json_contains_all, compiler: Any, **kw: Any) -> str:
    col, vals = compiler.process(element.column, **kw), compiler.process(element.values, **kw)
    return (
        f"(NOT EXISTS (SELECT 1 FROM json_each({vals}) AS w "
        f"WHERE w.value NOT IN (SELECT value FROM json_each({col}))))"
    )
