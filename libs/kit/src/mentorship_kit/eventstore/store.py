"""The append-only event store: one interface over PostgreSQL and SQLite.

Writes happen inside a transaction the caller owns (the unit of work), so events,
inline query tables and the idempotency record commit together. Reads of the global
order are commit-safe: see :class:`Checkpoint` for why they are keyed on the writing
transaction's id on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
import structlog
from opentelemetry import trace
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mentorship_kit.db import begin, transaction_driver
from mentorship_kit.eventstore.errors import ConcurrencyConflictError, DuplicateEventError
from mentorship_kit.eventstore.tables import kit_metadata
from mentorship_kit.eventstore.types import (
    ANY_VERSION,
    START,
    Checkpoint,
    EventMetadata,
    ExpectedVersion,
    NewEvent,
    RecordedEvent,
)

log = structlog.get_logger(__name__)
tracer = trace.get_tracer(__name__)

_CHANNEL = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

# The PostgreSQL fast path of an append, straight through the driver. What the database
# decides comes back, and the data as stored: jsonb orders its keys its own way, and a
# projection fed the caller's dict would write its JSON in another order than a rebuild
# from the store does (then the two no longer compare equal). The rest is what was sent.
#
# One event (nearly every command): one row of parameters. Its plan is the cheapest
# for the server, which on a busy 2-core machine shares the CPU with the client.
_PG_APPEND_ONE = """
INSERT INTO events (tx_id, event_id, stream_type, stream_id, stream_version, event_type,
                    schema_version, data, metadata, recorded_at)
VALUES (pg_current_xact_id()::text::bigint, $1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, $9)
ON CONFLICT (event_id) DO NOTHING
RETURNING position, tx_id, event_id, data
"""
# More (a bulk command): one prepared statement for any number of rows, sent as one JSON
# array. Arrays of values (``unnest``) cost the driver a Python-level type check per
# element, more CPU than the insert itself on a 10,000-event import; a JSON document is
# one string for it, and the event's data needs no separate encoding.
_PG_APPEND = """
INSERT INTO events (tx_id, event_id, stream_type, stream_id, stream_version, event_type,
                    schema_version, data, metadata, recorded_at)
SELECT pg_current_xact_id()::text::bigint, r.event_id, r.stream_type, r.stream_id,
       r.stream_version, r.event_type, r.schema_version, r.data, r.metadata, r.recorded_at
FROM json_to_recordset($1::json)
     AS r(event_id uuid, stream_type text, stream_id text, stream_version int,
          event_type text, schema_version int2, data jsonb, metadata jsonb,
          recorded_at timestamptz)
ORDER BY r.stream_id, r.stream_version
ON CONFLICT (event_id) DO NOTHING
RETURNING position, tx_id, event_id, data
"""

# xid8 -> bigint. Transaction ids grow monotonically, so comparing them as integers is
# safe (a 64-bit xid8 never wraps).
_PG_CURRENT_TX: sa.ColumnClause[Any] = sa.literal_column("pg_current_xact_id()::text::bigint")
# The visibility horizon of this database (see EventStore.visible_horizon). One
# statement: its snapshot (xmax, and xmin for the fallback) is taken before it runs, so
# the activity scan below sees every transaction that snapshot saw running.
_PG_HORIZON = """
SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS xmax,
       pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin,
       coalesce(array_agg(a.backend_xid::text::bigint)
                FILTER (WHERE a.backend_xid IS NOT NULL), '{}') AS running,
       coalesce(bool_or(a.query = '<insufficient privilege>'), false) AS hidden
FROM pg_stat_activity AS a
WHERE a.datname = current_database()
"""
_XID_SPAN = 2**32
# Under steady writes from a process whose relay does not lead, at most one NOTIFY per
# this many seconds (plus its round trip): a relay's batch takes longer than that.
NOTIFY_MIN_INTERVAL = 0.001
# A page of read_all on PostgreSQL, straight through the driver (the relay reads one
# per step): with and without the event-type filter.
_PG_READ_ALL = """
SELECT position, tx_id, event_id, stream_type, stream_id, stream_version, event_type,
       schema_version, data, metadata, recorded_at
FROM events
WHERE (tx_id, position) > ($1, $2) AND tx_id < $3
ORDER BY tx_id, position
LIMIT $4
"""
_PG_READ_ALL_OF_TYPES = _PG_READ_ALL.replace(
    "AND tx_id < $3", "AND tx_id < $3 AND event_type = ANY($5::text[])"
)


class EventStore:
    """Append, read a stream, and read everything in commit-safe global order."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        metadata: sa.MetaData | None = None,
        notify_channel: str = "events",
    ) -> None:
        self.engine = engine
        self.metadata = metadata if metadata is not None else kit_metadata()
        self.events = self.metadata.tables["events"]
        self.notify_channel = notify_channel
        self.is_postgres = engine.dialect.name == "postgresql"
        self._insert: Any = postgresql.insert if self.is_postgres else sqlite.insert
        if not _CHANNEL.match(notify_channel):
            msg = f"notify channel {notify_channel!r} must match {_CHANNEL.pattern}"
            raise ValueError(msg)
        self._notify_sql = (
            "BEGIN; SET LOCAL synchronous_commit TO off; "
            f"SELECT pg_notify('{notify_channel}', ''); COMMIT"
        )
        self._wake_pending = False
        self._notifier: asyncio.Task[None] | None = None
        self._local_listeners: set[asyncio.Event] = set()

    def listen_locally(self, wake: asyncio.Event) -> None:
        """Have ``wake`` set after every commit made through this store object.

        For the service's leading relay (see :meth:`notify`): while any is registered,
        commits send no NOTIFY.
        """
        self._local_listeners.add(wake)

    def unlisten_locally(self, wake: asyncio.Event) -> None:
        self._local_listeners.discard(wake)

    async def create_schema(self) -> None:
        """Create every missing table of this store's metadata (tests; services migrate)."""
        async with self.engine.begin() as conn:
            await conn.run_sync(self.metadata.create_all)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """One transaction; the relay is woken after it commits."""
        async with begin(self.engine) as conn:
            yield conn
        await self.notify()

    async def notify(self) -> None:
        """Wake relays after a commit; returns at once.

        A relay in this process is woken directly, and while one leads here no NOTIFY
        is sent: a service has one leading relay, and standbys need no wake-up (a
        NOTIFY transaction also takes a transaction id, which holds the relay's read
        horizon back until it ends). Relays in other processes get a PostgreSQL
        NOTIFY — not from inside the writing transaction: PostgreSQL gives a
        notifying transaction an id and flushes its commit while holding the
        notify-queue lock, which would serialise all writers and double the fsyncs. It
        goes out on its own transaction with ``synchronous_commit = off``, in one round
        trip; while one is on its way, later commits only mark another as due, so every
        commit is followed by a NOTIFY sent after it (under steady writes, one every
        ``NOTIFY_MIN_INTERVAL``). A lost wake-up costs nothing but latency: relays also
        poll.
        """
        for wake in self._local_listeners:
            wake.set()
        if not self.is_postgres or self._local_listeners:
            return
        self._wake_pending = True
        if self._notifier is None or self._notifier.done():
            self._notifier = asyncio.create_task(self._send_wakeups())

    async def _send_wakeups(self) -> None:
        # One connection for a whole burst of wake-ups: under steady writes this loop
        # keeps going, and a checkout per NOTIFY cost more CPU than the NOTIFY.
        try:
            async with self.engine.connect() as conn:
                driver = (await conn.get_raw_connection()).driver_connection
                assert driver is not None  # noqa: S101 - checked out means connected
                while self._wake_pending:
                    self._wake_pending = False
                    await driver.execute(self._notify_sql)
                    if self._wake_pending:
                        # A relay takes a batch per wake-up: more NOTIFYs than it can
                        # take batches only cost the server a transaction each.
                        await asyncio.sleep(NOTIFY_MIN_INTERVAL)
        except Exception as exc:  # noqa: BLE001 - the relay's poll covers a lost wake-up
            log.warning("eventstore.notify_failed", error=str(exc))

    async def close(self) -> None:
        """Let a pending wake-up finish (call before disposing of the engine)."""
        if self._notifier is not None:
            await asyncio.gather(self._notifier, return_exceptions=True)

    async def append(
        self,
        conn: AsyncConnection,
        events: Sequence[NewEvent],
        *,
        expected_version: ExpectedVersion,
        metadata: EventMetadata | None = None,
    ) -> list[RecordedEvent]:
        """Append events of one stream, checking its version; returns them as stored.

        ``expected_version`` is the stream's version the decision was made on
        (``NO_STREAM`` = 0 for a new stream) or ``ANY_VERSION``. Appending events whose
        ids are already stored in this stream is a no-op that returns the stored ones.
        """
        if not events:
            return []
        stream_id = events[0].stream_id
        if any(e.stream_id != stream_id for e in events):
            msg = "one append takes the events of one stream"
            raise ValueError(msg)
        if expected_version is ANY_VERSION:
            base = await self.stream_version(conn, stream_id)
        else:
            assert isinstance(expected_version, int)  # noqa: S101 - narrowed for mypy
            base = expected_version
        rows = _rows(events, base, metadata)
        with tracer.start_as_current_span(
            "eventstore.append",
            attributes={
                "mentorship.stream_id": stream_id,
                "mentorship.event_types": [e.event_type for e in events],
                "mentorship.expected_version": base,
            },
        ):
            try:
                inserted = await self._insert_rows(conn, rows)
            except IntegrityError as exc:
                raise ConcurrencyConflictError(stream_id, expected_version) from exc
        if len(inserted) == len(events):
            return inserted
        return await self._already_stored(conn, events, inserted_count=len(inserted))

    async def append_many(
        self,
        conn: AsyncConnection,
        batches: Sequence[tuple[Sequence[NewEvent], int]],
        *,
        metadata: EventMetadata | None = None,
    ) -> list[RecordedEvent]:
        """Append to many streams in one statement: ``(events of a stream, its version)``.

        For bulk commands (a directory import). All or nothing: when any stream moved,
        ConcurrencyConflictError is raised (its ``stream_id`` is ``"*"``) and the caller
        falls back to appending stream by stream. Event ids must be new.
        """
        rows: list[dict[str, Any]] = []
        for events, expected_version in batches:
            if any(e.stream_id != events[0].stream_id for e in events):
                msg = "each batch holds the events of one stream"
                raise ValueError(msg)
            rows.extend(_rows(events, expected_version, metadata))
        if not rows:
            return []
        with tracer.start_as_current_span(
            "eventstore.append_many",
            attributes={"mentorship.streams": len(batches), "mentorship.events": len(rows)},
        ):
            try:
                inserted = await self._insert_rows(conn, rows)
            except IntegrityError as exc:
                raise ConcurrencyConflictError("*", "batch") from exc
        if len(inserted) != len(rows):
            msg = "a bulk append reused stored event ids"
            raise DuplicateEventError(msg)
        return inserted

    async def _insert_rows(
        self, conn: AsyncConnection, rows: list[dict[str, Any]]
    ) -> list[RecordedEvent]:
        if self.is_postgres:
            return await self._insert_rows_pg(conn, rows)
        stmt = (
            self._insert(self.events)
            .values(tx_id=_PG_CURRENT_TX if self.is_postgres else 0)
            .on_conflict_do_nothing(index_elements=["event_id"])
            .returning(*self.events.c)
        )
        result = await conn.execute(stmt, rows)
        inserted = [_recorded(row) for row in result.mappings()]
        inserted.sort(key=lambda e: e.position)
        return inserted

    async def _insert_rows_pg(
        self, conn: AsyncConnection, rows: list[dict[str, Any]]
    ) -> list[RecordedEvent]:
        """The hot path of every command on PostgreSQL, straight through the driver.

        It runs on the same connection and inside the same transaction as the rest of
        the command; it only skips SQLAlchemy's per-statement work, which costs as much
        CPU as the insert itself on a busy 2-core machine.
        """
        driver = await transaction_driver(conn)
        if len(rows) == 1:
            statement, args = _PG_APPEND_ONE, _one_row_args(rows[0])
        else:
            statement, args = _PG_APPEND, (orjson.dumps(rows).decode(),)
        try:
            records = await driver.fetch(statement, *args)
        except Exception as exc:
            if type(exc).__name__ == "UniqueViolationError":
                raise IntegrityError(statement, None, exc) from exc
            raise
        by_id = {row["event_id"]: row for row in rows}
        # Rows of one call share one metadata mapping: parse it once.
        metadata: dict[int, EventMetadata] = {}
        inserted = []
        for position, tx_id, event_id, data in records:
            row = by_id[event_id]
            meta = row["metadata"]
            if id(meta) not in metadata:
                metadata[id(meta)] = EventMetadata.from_dict(meta)
            stored = {**row, "position": position, "tx_id": tx_id, "data": _from_jsonb(data)}
            inserted.append(_recorded(stored, metadata=metadata[id(meta)]))
        inserted.sort(key=lambda e: e.position)
        return inserted

    async def _already_stored(
        self, conn: AsyncConnection, events: Sequence[NewEvent], *, inserted_count: int
    ) -> list[RecordedEvent]:
        ids = [e.event_id for e in events]
        stored = await self._by_ids(conn, ids)
        if inserted_count or len(stored) != len(events):
            msg = "some but not all of these event ids are already stored"
            raise DuplicateEventError(msg)
        for new, old in zip(events, stored, strict=True):
            if (new.stream_id, new.event_type) != (old.stream_id, old.event_type):
                msg = f"event id {new.event_id} is already used by another event"
                raise DuplicateEventError(msg)
        return stored

    async def _by_ids(self, conn: AsyncConnection, ids: list[uuid.UUID]) -> list[RecordedEvent]:
        query = (
            sa.select(self.events)
            .where(self.events.c.event_id.in_(ids))
            .order_by(self.events.c.position)
        )
        return [_recorded(row) for row in (await conn.execute(query)).mappings()]

    async def stream_version(self, conn: AsyncConnection, stream_id: str) -> int:
        query = sa.select(sa.func.coalesce(sa.func.max(self.events.c.stream_version), 0)).where(
            self.events.c.stream_id == stream_id
        )
        return int((await conn.execute(query)).scalar_one())

    async def read_streams(
        self, conn: AsyncConnection, stream_ids: Sequence[str]
    ) -> dict[str, list[RecordedEvent]]:
        """Several streams at once (bulk commands), each in version order."""
        found: dict[str, list[RecordedEvent]] = {stream_id: [] for stream_id in stream_ids}
        ids = list(found)
        for start in range(0, len(ids), 5000):
            query = (
                sa.select(self.events)
                .where(self.events.c.stream_id.in_(ids[start : start + 5000]))
                .order_by(self.events.c.stream_id, self.events.c.stream_version)
            )
            for row in (await conn.execute(query)).mappings():
                found[row["stream_id"]].append(_recorded(row))
        return found

    async def read_stream(
        self, conn: AsyncConnection, stream_id: str, *, after_version: int = 0
    ) -> list[RecordedEvent]:
        query = (
            sa.select(self.events)
            .where(
                self.events.c.stream_id == stream_id,
                self.events.c.stream_version > after_version,
            )
            .order_by(self.events.c.stream_version)
        )
        return [_recorded(row) for row in (await conn.execute(query)).mappings()]

    async def read_all(
        self,
        after: Checkpoint = START,
        *,
        limit: int = 1000,
        event_types: Sequence[str] | None = None,
        conn: AsyncConnection | None = None,
    ) -> list[RecordedEvent]:
        """Events after ``after`` in commit-safe global order, at most ``limit``.

        On PostgreSQL only events of transactions older than the oldest one still
        running are returned: any event that becomes visible later belongs to a
        transaction at or beyond that horizon and therefore sorts after everything
        returned now. Nothing can slip in behind a reader's checkpoint.
        """
        if conn is not None:
            return await self._read_all(conn, after, limit, event_types)
        async with self.engine.connect() as own:
            return await self._read_all(own, after, limit, event_types)

    async def _read_all(
        self,
        conn: AsyncConnection,
        after: Checkpoint,
        limit: int,
        event_types: Sequence[str] | None,
    ) -> list[RecordedEvent]:
        if not self.is_postgres:
            c = self.events.c
            query = sa.select(self.events).where(c.position > after.position)
            if event_types:
                query = query.where(c.event_type.in_(list(event_types)))
            rows = (await conn.execute(query.order_by(c.position).limit(limit))).mappings()
            return [_recorded(row) for row in rows]
        # PostgreSQL, through the driver: outside a transaction (the relay's case) each
        # statement is one round trip with a fresh snapshot, and no BEGIN or ROLLBACK.
        driver = await transaction_driver(conn)
        horizon = await self._horizon(driver)
        args: list[Any] = [after.tx_id, after.position, horizon, limit]
        if event_types:
            records = await driver.fetch(_PG_READ_ALL_OF_TYPES, *args, list(event_types))
        else:
            records = await driver.fetch(_PG_READ_ALL, *args)
        events = []
        for record in records:
            row = dict(record.items())
            row["data"], row["metadata"] = _from_jsonb(row["data"]), _from_jsonb(row["metadata"])
            events.append(_recorded(row))
        return events

    async def visible_horizon(self, conn: AsyncConnection) -> int:
        """PostgreSQL: the transaction id below which every event here is final.

        Events can only be written by sessions connected to this database, so only
        their running transactions matter: the horizon is the smallest id among them,
        or the snapshot's xmax when none runs. Ids taken later are at least xmax. This
        keeps a long transaction in another database of the same server from holding
        back this service's relay. When privileges hide another role's session in this
        database, the server-wide snapshot xmin is used instead (always safe, only
        slower to advance).
        """
        return await self._horizon(await transaction_driver(conn))

    @staticmethod
    async def _horizon(driver: Any) -> int:
        if driver.is_in_transaction():
            # Activity is snapshotted once per transaction: drop a look taken earlier in
            # it. (Outside a transaction, the relay's case, each look is fresh.)
            await driver.execute("SELECT pg_stat_clear_snapshot()")
        row = await driver.fetchrow(_PG_HORIZON)
        xmax, xmin = int(row["xmax"]), int(row["xmin"])
        running: list[int] = [int(x) for x in row["running"]]
        if row["hidden"]:
            return xmin
        # pg_stat_activity shows 32-bit xids; each is within 2^31 of xmax.
        widened = [
            xmax + ((x - xmax + _XID_SPAN // 2) % _XID_SPAN) - _XID_SPAN // 2 for x in running
        ]
        return min([xmax, *widened])

    async def iterate_all(
        self, after: Checkpoint = START, *, page_size: int = 5000
    ) -> AsyncIterator[RecordedEvent]:
        """Every event after ``after`` in global order, page by page (rebuilds)."""
        cursor = after
        while True:
            page = await self.read_all(cursor, limit=page_size)
            for event in page:
                yield event
            if len(page) < page_size:
                return
            cursor = page[-1].checkpoint

    async def count(self) -> int:
        query = sa.select(sa.func.count()).select_from(self.events)
        async with self.engine.connect() as conn:
            return int((await conn.execute(query)).scalar_one())

    async def head(self) -> Checkpoint:
        """The checkpoint of the newest event a reader may see now (START when empty)."""
        c = self.events.c
        query = sa.select(c.tx_id, c.position)
        async with self.engine.connect() as conn:
            if self.is_postgres:
                horizon = await self.visible_horizon(conn)
                query = query.where(c.tx_id < horizon).order_by(c.tx_id.desc(), c.position.desc())
            else:
                query = query.order_by(c.position.desc())
            row = (await conn.execute(query.limit(1))).first()
        return START if row is None else Checkpoint(int(row.tx_id), int(row.position))


def _rows(
    events: Sequence[NewEvent], base_version: int, metadata: EventMetadata | None
) -> list[dict[str, Any]]:
    meta = (metadata or EventMetadata()).to_dict()
    now = datetime.now(UTC)
    return [
        {
            "event_id": event.event_id,
            "stream_type": event.stream_type,
            "stream_id": event.stream_id,
            "stream_version": base_version + offset,
            "event_type": event.event_type,
            "schema_version": event.schema_version,
            "data": dict(event.data),
            "metadata": meta,
            "recorded_at": now,
        }
        for offset, event in enumerate(events, start=1)
    ]


def _one_row_args(row: dict[str, Any]) -> tuple[Any, ...]:
    """The parameters of _PG_APPEND_ONE. jsonb goes as JSON text, which both the codec
    SQLAlchemy installs on its connections and a bare asyncpg connection accept."""
    return (
        row["event_id"],
        row["stream_type"],
        row["stream_id"],
        row["stream_version"],
        row["event_type"],
        row["schema_version"],
        orjson.dumps(row["data"]).decode(),
        orjson.dumps(row["metadata"]).decode(),
        row["recorded_at"],
    )


def _from_jsonb(value: Any) -> Any:
    """A jsonb value read through the driver: decoded by the codec SQLAlchemy installs on
    its connections, or still text on a connection without it."""
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def _recorded(
    row: sa.RowMapping | dict[str, Any], *, metadata: EventMetadata | None = None
) -> RecordedEvent:
    """The event of a row; ``metadata``: the row's, when already parsed."""
    recorded_at: datetime = row["recorded_at"]
    if recorded_at.tzinfo is None:  # SQLite hands back naive datetimes
        recorded_at = recorded_at.replace(tzinfo=UTC)
    return RecordedEvent(
        position=int(row["position"]),
        tx_id=int(row["tx_id"]),
        event_id=row["event_id"],
        stream_type=row["stream_type"],
        stream_id=row["stream_id"],
        stream_version=int(row["stream_version"]),
        event_type=row["event_type"],
        schema_version=int(row["schema_version"]),
        data=row["data"],
        metadata=metadata or EventMetadata.from_dict(row["metadata"]),
        recorded_at=recorded_at,
    )
