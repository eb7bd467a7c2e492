"""Database engines for both storage backends, chosen by URL alone.

``sqlite+aiosqlite:///./var/enrollment.db`` is the embedded default;
``postgresql+asyncpg://user@host/db`` is production. Plain ``postgresql://`` and
``sqlite://`` URLs are accepted and given their async driver.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Generic, TypeVar, cast

import aiosqlite
import orjson
from greenlet import getcurrent, greenlet
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, RootTransaction, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

_WAL_SWITCH_SECONDS = 5.0
# Idle sync runners kept per thread: about the most transactions a process has open at
# once; beyond it a burst's extra runners are simply dropped when they finish.
_IDLE_RUNNERS_KEPT: Final = 64

_T = TypeVar("_T")


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def normalize_url(url: str | URL) -> URL:
    """Give a plain database URL the async driver this project uses."""
    parsed = make_url(url)
    if parsed.drivername in {"postgresql", "postgres", "postgresql+psycopg2"}:
        parsed = parsed.set(drivername="postgresql+asyncpg")
    elif parsed.drivername == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    if parsed.drivername not in {"postgresql+asyncpg", "sqlite+aiosqlite"}:
        msg = f"unsupported database URL scheme {parsed.drivername!r}"
        raise ValueError(msg)
    return parsed


def is_postgres(url_or_engine: str | URL | AsyncEngine) -> bool:
    if isinstance(url_or_engine, AsyncEngine):
        return url_or_engine.dialect.name == "postgresql"
    return normalize_url(url_or_engine).get_backend_name() == "postgresql"


def create_engine(
    url: str | URL,
    *,
    pool_size: int = 20,
    max_overflow: int | None = None,
    pool_timeout: float = 30.0,
) -> AsyncEngine:
    """An async engine tuned for the backend the URL names.

    PostgreSQL: ``pool_size`` connections kept open, ``max_overflow`` more opened under
    a burst (default: as many again) and closed when returned, ``pool_timeout`` seconds
    waited for a free one. SQLite opens a connection per use and ignores them.
    """
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            parsed,
            json_serializer=_json_dumps,
            json_deserializer=orjson.loads,
            # One file, one writer: SQLite serialises writes itself, and a pool of
            # connections would only queue on its lock. NullPool keeps connections
            # cheap and lets the busy timeout do the waiting.
            poolclass=NullPool,
            connect_args={"timeout": 30},
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin_immediate)
        return engine
    return create_async_engine(
        parsed,
        json_serializer=_json_dumps,
        json_deserializer=orjson.loads,
        pool_size=pool_size,
        max_overflow=pool_size if max_overflow is None else max_overflow,
        pool_timeout=pool_timeout,
        # A writing transaction left open holds back the relay's commit-safe horizon
        # (see Checkpoint) for the whole server; never let one of ours linger.
        connect_args={"server_settings": {"idle_in_transaction_session_timeout": "60000"}},
        # No pre-ping: it costs a round trip per checkout. After a server restart the
        # first statement on a dead connection fails (the request answers 503) and
        # SQLAlchemy invalidates the whole pool, so the next request reconnects.
    )


@asynccontextmanager
async def begin(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """``engine.begin()`` with the same semantics, for a fraction of its client CPU.

    SQLAlchemy's asyncio engine runs each step (check out, begin, commit, close) in a
    new greenlet, and a new greenlet costs about 8 µs: on Python 3.11 it maps and unmaps
    a frame stack chunk of its own. At a few thousand short transactions a second that
    was a large share of a write's client CPU. Here the checkout and BEGIN share one
    step and the commit (or rollback) and the return to the pool share another, and both
    run on a greenlet kept for reuse (:func:`run_sync`). When the end is interrupted
    (cancelled during COMMIT), SQLAlchemy invalidates the connection and it is still
    returned in the same step: never left checked out.
    """
    sync_conn, sync_trans = await run_sync(_checkout_and_begin, engine.sync_engine)
    conn = AsyncConnection(engine, sync_conn)
    try:
        yield conn
    except BaseException as exc:
        await run_sync(_end, sync_conn, sync_trans, type(exc), exc, exc.__traceback__)
        raise
    await run_sync(_end, sync_conn, sync_trans, None, None, None)


class _Outcome(Generic[_T]):
    """What a sync call on a runner ended with; the caller empties it once read."""

    __slots__ = ("error", "value")

    def __init__(self) -> None:
        self.value: _T | None = None
        self.error: BaseException | None = None

    def take(self) -> _T:
        value, error = self.value, self.error
        self.value = self.error = None
        if error is not None:
            raise error
        return value  # type: ignore[return-value] # _T when no error


class _SyncRunner(greenlet):
    """A greenlet that runs sync SQLAlchemy calls for its parent, one after another.

    SQLAlchemy's ``await_`` works in any greenlet marked as a provider: it switches to
    the parent with the awaitable, and :func:`run_sync`, running in the parent (the
    event loop's greenlet), awaits it and switches back with the result.
    """

    __sqlalchemy_greenlet_provider__ = True

    def __init__(self, parent: greenlet) -> None:
        super().__init__(self._serve, parent)

    def _serve(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        parent = self.parent
        assert parent is not None  # noqa: S101 - given at creation
        while True:
            outcome: _Outcome[Any] = _Outcome()
            try:
                outcome.value = fn(*args)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller to raise
                outcome.error = exc
            # Parked between calls: hold nothing of the last one (the caller empties
            # the outcome). A parked runner that is collected gets GreenletExit here,
            # outside the try, and simply ends.
            del fn, args
            fn, args = parent.switch(outcome)


_idle = threading.local()


async def run_sync(fn: Callable[..., _T], *args: Any) -> _T:
    """``sqlalchemy.util.greenlet_spawn(fn, *args)`` on a greenlet kept for reuse.

    ``fn`` sees the caller's context variables. Runners are kept per thread (a greenlet
    belongs to the thread that made it); a runner whose call was interrupted at an await
    gets the interruption thrown in, as with ``greenlet_spawn``, and is reused only once
    ``fn`` has returned or raised.
    """
    current = getcurrent()
    idle: list[_SyncRunner] = _idle.__dict__.setdefault("runners", [])
    runner = idle.pop() if idle else None
    if runner is None or runner.parent is not current:
        runner = _SyncRunner(current)
    runner.gr_context = current.gr_context
    step = runner.switch(fn, args)
    while not isinstance(step, _Outcome):
        try:
            value = await step
        except BaseException:  # noqa: BLE001 - thrown into fn, as greenlet_spawn does
            step = runner.throw(*sys.exc_info())
        else:
            step = runner.switch(value)
    runner.gr_context = None
    if len(idle) < _IDLE_RUNNERS_KEPT:
        idle.append(runner)
    return cast("_Outcome[_T]", step).take()


def _checkout_and_begin(engine: Engine) -> tuple[Connection, RootTransaction]:
    conn = engine.connect()
    try:
        trans = conn.begin()
        trans.__enter__()  # as the context manager SQLAlchemy's async begin() enters
    except BaseException:
        conn.close()
        raise
    return conn, trans


def _end(
    conn: Connection,
    trans: RootTransaction,
    exc_type: type[BaseException] | None,
    exc: BaseException | None,
    tb: TracebackType | None,
) -> None:
    try:
        trans.__exit__(exc_type, exc, tb)  # commits, or rolls back after an error
    finally:
        conn.close()


async def transaction_driver(conn: AsyncConnection) -> Any:
    """The asyncpg connection under ``conn`` (PostgreSQL), inside ``conn``'s transaction.

    For hot paths that skip SQLAlchemy's per-statement work (it costs as much CPU as a
    simple statement costs the database). SQLAlchemy's asyncpg adapter sends BEGIN
    lazily, with its first statement: when ``conn`` is in a transaction that has not
    reached the server yet, the adapter's own transaction is opened here (BEGIN alone,
    no throw-away statement), so that what runs on the driver is inside it and
    SQLAlchemy's commit or rollback still ends it.
    """
    sync = conn.sync_connection
    if sync is not None and not sync.closed and not sync.invalidated:
        raw = sync.connection  # held by the connection: no greenlet hop to fetch it
    else:
        raw = await conn.get_raw_connection()  # reconnects, or raises the right error
    driver = raw.driver_connection
    assert driver is not None  # noqa: S101 - a checked-out connection has a driver
    if conn.in_transaction() and not driver.is_in_transaction():
        adapter = raw.dbapi_connection
        start = getattr(adapter, "_start_transaction", None)
        if start is None or getattr(adapter, "_transaction", None) is not None:
            # A future SQLAlchemy renamed the private hook: the round trip it saves.
            await conn.exec_driver_sql("SELECT 1")
        else:
            await start()
    return driver


class _SQLiteConnection(aiosqlite.Connection):
    """aiosqlite's connection, whose worker thread is asked to stop at most once.

    aiosqlite 0.22 ends the worker thread at the first stop request it takes, and a
    second one, queued behind it, is never run: whoever awaits it waits forever. Its own
    ``close()`` sends one after a forced ``stop()`` has, and SQLAlchemy forces one when
    it invalidated a connection and the graceful close it started (shielded, so it goes
    on) is cancelled. Service shutdowns stalled on that. Here every stop after the first
    answers with the first one's future.
    """

    _stop_sent = False
    _stopped: asyncio.Future[Any] | None = None

    def stop(self) -> asyncio.Future[Any] | None:
        if not self._stop_sent:
            self._stop_sent = True
            self._stopped = super().stop()
        return self._stopped


def _sqlite_pragmas(dbapi_connection: Any, record: Any) -> None:
    driver = record.driver_connection
    if type(driver) is aiosqlite.Connection:
        # The same object with the one method changed (SQLAlchemy makes the connection).
        driver.__class__ = _SQLiteConnection
    # pysqlite's own transaction handling is switched off so that BEGIN is ours
    # (see _sqlite_begin_immediate); WAL lets readers run beside the one writer.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode")
    if cursor.fetchone()[0] != "wal":
        _switch_to_wal(cursor)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _switch_to_wal(cursor: Any) -> None:
    """Put a new database file in WAL mode (it stays so: later connections only check).

    Switching needs the file to itself, and SQLite answers "database is locked" at once,
    without its busy timeout, when another connection opens the new file meanwhile (two
    replicas, or processes, starting on a fresh file). Retried for up to 5 s; it blocks
    the event loop, but only on a file's very first connections.
    """
    deadline = time.monotonic() + _WAL_SWITCH_SECONDS
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
        except Exception as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.02)
        else:
            return


def _sqlite_begin_immediate(conn: Any) -> None:
    # BEGIN IMMEDIATE takes the write lock up front. A deferred transaction that reads
    # and then writes can fail with SQLITE_BUSY at the upgrade, which busy_timeout
    # cannot retry; taking the lock first makes concurrent commands queue instead.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


async def warm_pool(engine: AsyncEngine) -> int:
    """Open the pool's connections now; the number opened.

    A cold pool makes the first burst of requests after a start pay for the connections
    (a TCP and authentication handshake each, tens of milliseconds under load), which
    shows as a latency spike exactly when a replica joins. SQLite (NullPool) has nothing
    to warm.
    """
    size = getattr(engine.pool, "size", None)
    if not callable(size):
        return 0
    connections = await asyncio.gather(*(engine.connect() for _ in range(int(size()))))
    for connection in connections:
        await connection.close()
    return len(connections)


def freeze_startup_heap() -> None:
    """Move every object alive after start-up out of the garbage collector's sight.

    What a service builds at start-up (modules, routes, schemas, metadata) lives as long
    as the process; scanning it again in every full collection costs tens of
    milliseconds of stalled event loop. ``gc.freeze()`` after one collection makes full
    collections scan only what requests create.
    """
    gc.collect()
    gc.freeze()


_relaxed: list[int] = []
_restored: tuple[int, int, int] | None = None


@contextlib.contextmanager
def relaxed_collector(threshold: int) -> Iterator[None]:
    """Raise the collector's first threshold to ``threshold`` while the block runs.

    For work that keeps a large batch alive (a replay, a 10,000-row import): with a low
    first threshold its survivors set off young and middle collections that walk them
    again and again. The thresholds are per process: blocks that overlap share the
    highest threshold asked, and the last one to end restores what was there.
    """
    global _restored  # noqa: PLW0603 - the collector is process-wide too
    if not _relaxed:
        _restored = gc.get_threshold()
    _relaxed.append(threshold)
    _set_relaxed()
    try:
        yield
    finally:
        _relaxed.remove(threshold)
        if _relaxed:
            _set_relaxed()
        elif _restored is not None:
            gc.set_threshold(*_restored)
            _restored = None


def _set_relaxed() -> None:
    assert _restored is not None  # noqa: S101 - set by the first relaxation
    gc.set_threshold(max(_restored[0], *_relaxed), *_restored[1:])


def collect_young_every(allocations: int) -> None:
    """Run the young-generation collection every ``allocations`` net allocations.

    The older generations keep Python's ratios, so full collections become rarer by
    the same factor. 0 keeps the interpreter's default.
    """
    if allocations > 0:
        _, middle, old = gc.get_threshold()
        gc.set_threshold(allocations, middle, old)
