"""Read models (projections) fed by events and rebuildable from zero.

A :class:`Projection` owns some tables and applies one event at a time to them, always
through ``self.table(name)``. That indirection is what makes a rebuild possible: the
same projection code is *bound* to shadow tables (same definitions, elsewhere), fed
every event from the beginning, and the shadow tables are then swapped in for the live
ones in one transaction, so readers see either the old model or the new one.

- PostgreSQL: the shadow tables live in a schema of their own (``rebuild_<name>``) with
  the same table, index and constraint names; the swap drops the live tables and moves
  the shadow ones over with ``ALTER TABLE ... SET SCHEMA`` (DDL is transactional).
- SQLite: the shadow tables are ``<table>__rebuild`` without secondary indexes (index
  names are database-wide there); the swap drops the live tables, renames the shadow
  ones and creates the indexes, all in one transaction.

A projection is fed incrementally either as a :class:`~mentorship_kit.consumer.ConsumerRuntime`
handler (``handler=projection.handle``) or inline in the command's transaction
(:func:`inline_handler`). Its events come back for a rebuild from the service's own
:class:`~mentorship_kit.eventstore.EventStore` (:func:`store_events`) or from another
service's JetStream stream replayed from its first message (:func:`jetstream_events`).

A rebuild sees the events its source yields while it runs; stop the projection's
incremental feeder for the duration. For a consumer-fed projection pass ``consumer=``:
the swap then also replaces that consumer's per-stream versions with the rebuilt ones
(so the resumed consumer skips what the rebuild applied) and refuses to swap, raising
:class:`RebuildBehindError`, if the consumer handled anything the rebuild did not.

Limits, checked up front: projection tables carry no foreign keys and no database
enum types (they would tie the shadow tables to the live ones); one rebuild of a
projection at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import re
import time
from abc import ABC, abstractmethod
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Mapping,
    Sequence,
)
from dataclasses import dataclass
from typing import Any, ClassVar, Final, Self

import nats.errors
import sqlalchemy as sa
import structlog
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy
from opentelemetry import trace
from prometheus_client import Counter, Gauge
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.elements import conv

from mentorship_contracts import CloudEvent
from mentorship_kit.db import relaxed_collector
from mentorship_kit.eventstore import START, Checkpoint, EventStore, RecordedEvent
from mentorship_kit.eventstore.tables import kit_metadata
from mentorship_kit.messaging import from_message, service_subjects, stream_name, to_cloudevent
from mentorship_kit.personal import PersonalDataVault
from mentorship_kit.supervisor import raise_if_cancelling

log = structlog.get_logger(__name__)
tracer = trace.get_tracer(__name__)

Progress = Callable[[int], object]
InlineHandler = Callable[[AsyncConnection, RecordedEvent], Awaitable[None]]

_NAME: Final = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
_SQLITE_SUFFIX: Final = "__rebuild"
_STREAMS: Final = kit_metadata().tables["consumer_streams"]

REBUILD_PROGRESS = Gauge(
    "mentorship_projection_rebuild_events",
    "Events applied so far by the running (or last) rebuild of a projection.",
    ["projection"],
)
REBUILDS = Counter(
    "mentorship_projection_rebuilds_total",
    "Projection rebuilds by outcome (swapped | failed).",
    ["projection", "outcome"],
)
REPLAY_SKIPPED = Counter(
    "mentorship_projection_replay_unparseable_total",
    "Messages skipped by a JetStream replay because they are not CloudEvents.",
    ["stream"],
)


class Projection(ABC):
    """A read model: tables it owns and how one event changes them.

    Subclasses set ``name`` (lower-case, used for the rebuild schema and metrics), pass
    their live tables to ``__init__`` and write SQL only against ``self.table(...)``.
    """

    name: ClassVar[str]

    def __init__(self, *tables: sa.Table) -> None:
        if not _NAME.match(self.name):
            msg = f"projection name {self.name!r} must match {_NAME.pattern}"
            raise ValueError(msg)
        self._tables: dict[str, sa.Table] = {t.name: t for t in tables}

    @property
    def tables(self) -> tuple[sa.Table, ...]:
        """The tables this instance writes to (live ones unless bound for a rebuild)."""
        return tuple(self._tables.values())

    @property
    def table_names(self) -> tuple[str, ...]:
        """The live names of the tables, whatever this instance is bound to."""
        return tuple(self._tables)

    def table(self, name: str) -> sa.Table:
        """The table to use for the live table called ``name``."""
        return self._tables[name]

    def bind(self, tables: Mapping[str, sa.Table]) -> Self:
        """A copy of this projection writing to ``tables`` (keyed by live table name)."""
        if set(tables) != set(self._tables):
            msg = f"bind needs exactly the tables {sorted(self._tables)}"
            raise ValueError(msg)
        bound = copy.copy(self)
        bound._tables = dict(tables)  # noqa: SLF001 - a copy of our own class
        return bound

    def bind_empty(self, tables: Mapping[str, sa.Table]) -> Self:
        """A copy of this projection writing to ``tables``, which start empty and which
        only that copy writes to while it lives (a rebuild's shadow tables).

        By default the same as :meth:`bind`. A projection may override it to keep in
        memory what it wrote (which keys exist, say) and write what it knows to be new
        without asking the database (plain inserts or COPY instead of upserts).
        """
        return self.bind(tables)

    @abstractmethod
    async def handle(self, conn: AsyncConnection, event: CloudEvent) -> None:
        """Apply one event inside the caller's transaction."""

    async def handle_batch(self, conn: AsyncConnection, events: Sequence[CloudEvent]) -> None:
        """Apply events in order inside the caller's transaction.

        A rebuild feeds whole batches through here. Override it to write each table
        once per batch (bulk inserts, one upsert per key) when replaying history at
        speed matters; the result must equal applying ``handle`` event by event.
        """
        for event in events:
            await self.handle(conn, event)


def inline_handler(projection: Projection, service: str) -> InlineHandler:
    """Feed a projection in the command's transaction (``CommandRunner(inline=...)``)."""

    async def handle(conn: AsyncConnection, event: RecordedEvent) -> None:
        await projection.handle(conn, to_cloudevent(event, service))

    return handle


async def store_events(
    store: EventStore,
    service: str,
    *,
    after: Checkpoint = START,
    page_size: int = 5000,
    vault: PersonalDataVault | None = None,
) -> AsyncIterator[CloudEvent]:
    """Every event of the service's own store, in commit-safe global order.

    With the service's ``vault``, personal fields come opened (None once erased): for
    the service's own read models, which keep personal data in clear.
    """
    if vault is None:
        async for event in store.iterate_all(after, page_size=page_size):
            yield to_cloudevent(event, service)
        return
    page: list[RecordedEvent] = []
    async for event in store.iterate_all(after, page_size=page_size):
        page.append(event)
        if len(page) >= page_size:
            for opened in await _opened(store, vault, page):
                yield to_cloudevent(opened, service)
            page = []
    for opened in await _opened(store, vault, page):
        yield to_cloudevent(opened, service)


async def _opened(
    store: EventStore, vault: PersonalDataVault, events: list[RecordedEvent]
) -> list[RecordedEvent]:
    async with store.engine.connect() as conn:
        datas = await vault.open(conn, [(e.event_type, e.data) for e in events])
    return [e.with_data(d) for e, d in zip(events, datas, strict=True)]


async def jetstream_events(
    js: JetStreamContext,
    source_service: str,
    *,
    filter_subject: str | None = None,
    idle_timeout: float = 5.0,
) -> AsyncIterator[CloudEvent]:
    """Replay a service's JetStream stream from its first message until caught up.

    An ephemeral ordered consumer (no acks, in-memory, re-created by the client on a
    gap) delivers the stream in sequence order; the replay ends with the message after
    which none were pending. Messages that are not CloudEvents are skipped (the live
    consumer dead-letters them). ``nats.errors.TimeoutError`` when the server stalls
    for ``idle_timeout``.
    """
    stream = stream_name(source_service)
    sub = await js.subscribe(
        filter_subject or service_subjects(source_service),
        stream=stream,
        ordered_consumer=True,
        deliver_policy=DeliverPolicy.ALL,
    )
    try:
        info = await sub.consumer_info()
        delivered = info.delivered.stream_seq if info.delivered else 0
        if not info.num_pending and not delivered:
            return
        while True:
            raise_if_cancelling()
            msg = await sub.next_msg(timeout=idle_timeout)
            try:
                yield from_message(msg)
            except ValueError as exc:
                REPLAY_SKIPPED.labels(stream).inc()
                log.warning("projection.replay_skipped", subject=msg.subject, error=str(exc))
            if msg.metadata.num_pending == 0:
                return
    finally:
        try:
            await sub.unsubscribe()
        except nats.errors.Error as exc:
            log.debug("projection.replay_unsubscribe_failed", error=repr(exc))


@dataclass(frozen=True, slots=True)
class RebuildResult:
    projection: str
    events: int
    duplicates: int
    gaps: int
    seconds: float


class RebuildBehindError(RuntimeError):
    """The live consumer handled events the rebuild never saw; nothing was swapped."""


async def rebuild(
    projection: Projection,
    engine: AsyncEngine,
    events: AsyncIterable[CloudEvent],
    *,
    progress: Progress | None = None,
    consumer: str | None = None,
    batch_size: int = 1000,
) -> RebuildResult:
    """Build ``projection`` from ``events`` into shadow tables and swap them in.

    ``progress`` is called with the number of events applied after every batch (the
    ``mentorship_projection_rebuild_events`` gauge follows it too). Events whose
    version of their stream was already applied are skipped (a source may repeat an
    event); a version that skips ahead is applied and counted in ``gaps``.
    """
    _check_rebuildable(projection)
    shadow = _Shadow.for_engine(projection, engine)
    feed = _Feed(projection.bind_empty(shadow.tables), progress)
    started = time.perf_counter()
    with tracer.start_as_current_span(
        "projection.rebuild", attributes={"projection": projection.name}
    ):
        try:
            await shadow.create(engine)
            with relaxed_collector(REBUILD_GC_THRESHOLD):
                await feed.run(engine, events, batch_size)
            await shadow.swap(engine, feed.versions, consumer)
        except BaseException:
            REBUILDS.labels(projection.name, "failed").inc()
            await shadow.drop_quietly(engine)
            raise
        finally:
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                await aclose()
    REBUILDS.labels(projection.name, "swapped").inc()
    result = RebuildResult(
        projection=projection.name,
        events=feed.applied,
        duplicates=feed.duplicates,
        gaps=feed.gaps,
        seconds=time.perf_counter() - started,
    )
    log.info("projection.rebuilt", **{k: getattr(result, k) for k in result.__slots__})
    return result


# A replay keeps a whole batch of events (and its source's pages) alive while it applies
# them. With the collector's default first threshold (700 new container objects) those
# survivors set off a full collection every ~15,000 events, each walking everything
# still alive: a third of a replay's CPU time. While any rebuild runs, the threshold is
# raised to this; the collector still runs, on fewer, larger generations. Nearly every
# young object is still alive when a collection comes (it belongs to a batch being read
# or written), so the collector's work is the survivors it walks: at 50,000 it walked
# almost every object of every batch, still a tenth of a replay's CPU; at a million a
# collection comes every few batches and walks only the two batches alive then. Only
# garbage in reference cycles waits for it (a replay makes little).
REBUILD_GC_THRESHOLD: Final = 1_000_000


def _check_rebuildable(projection: Projection) -> None:
    for table in projection.tables:
        if table.foreign_key_constraints:
            msg = f"{table.name}: projection tables cannot have foreign keys"
            raise ValueError(msg)
        for column in table.columns:
            if isinstance(column.type, sa.Enum) and column.type.native_enum:
                msg = f"{table.name}.{column.name}: use sa.Enum(..., native_enum=False)"
                raise ValueError(msg)


class _Feed:
    """Applies events to the shadow-bound projection in batched transactions.

    The write of one batch overlaps the reading of the next: while the database runs a
    batch's statements, the source's events for the next batch are read and decoded.
    Batches still commit one after the other, in order (at most one write in flight).
    """

    def __init__(self, projection: Projection, progress: Progress | None) -> None:
        self.projection = projection
        self.progress = progress
        self.versions: dict[str, int] = {}
        self.applied = 0
        self.duplicates = 0
        self.gaps = 0

    async def run(
        self, engine: AsyncEngine, events: AsyncIterable[CloudEvent], batch_size: int
    ) -> None:
        REBUILD_PROGRESS.labels(self.projection.name).set(0)
        writing: asyncio.Task[None] | None = None
        try:
            batch: list[CloudEvent] = []
            async for event in events:
                batch.append(event)
                if len(batch) >= batch_size:
                    fresh = self._fresh(batch)
                    if writing is not None:
                        await writing
                    writing = asyncio.ensure_future(self._write(engine, fresh, self.applied))
                    batch = []
            fresh = self._fresh(batch)
            if writing is not None:
                await writing
            writing = None
            await self._write(engine, fresh, self.applied)
        finally:
            if writing is not None and not writing.done():
                writing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await writing

    def _fresh(self, batch: list[CloudEvent]) -> list[CloudEvent]:
        """The batch's events not applied yet, in order (the versions move on)."""
        fresh: list[CloudEvent] = []
        versions = self.versions
        for event in batch:
            last = versions.get(event.subject, 0)
            if event.streamversion <= last:
                self.duplicates += 1
                continue
            if event.streamversion != last + 1:
                self.gaps += 1
                log.warning(
                    "projection.rebuild_gap",
                    projection=self.projection.name,
                    stream_id=event.subject,
                    expected=last + 1,
                    got=event.streamversion,
                )
            fresh.append(event)
            versions[event.subject] = event.streamversion
        self.applied += len(fresh)
        return fresh

    async def _write(self, engine: AsyncEngine, fresh: list[CloudEvent], applied: int) -> None:
        """One batch in one transaction; ``applied`` counts the events once it commits."""
        async with engine.begin() as conn:
            await self.projection.handle_batch(conn, fresh)
        REBUILD_PROGRESS.labels(self.projection.name).set(applied)
        if self.progress is not None:
            self.progress(applied)


def _structural_key(item: sa.Constraint | sa.Index) -> tuple[Any, ...]:
    """What identifies an index or constraint within its table, whatever its name."""
    if isinstance(item, sa.Index):
        return ("ix", tuple(str(e) for e in item.expressions), item.unique)
    if isinstance(item, sa.PrimaryKeyConstraint):
        return ("pk",)
    if isinstance(item, sa.UniqueConstraint):
        return ("uq", tuple(c.name for c in item.columns))
    if isinstance(item, sa.CheckConstraint):
        return ("ck", str(item.sqltext))
    return (type(item).__name__, id(item))


def _named_items(table: sa.Table) -> list[sa.Constraint | sa.Index]:
    return [*table.constraints, *table.indexes]


def _copy_table(live: sa.Table, metadata: sa.MetaData, **where: Any) -> sa.Table:
    """``live``'s definition under another name or schema, with the same object names.

    A plain ``to_metadata`` would re-derive convention-based index and constraint names
    from the new table name; a rebuilt table must keep the names migrations know.
    """
    shadow = live.to_metadata(metadata, **where)
    names = {
        _structural_key(item): item.name
        for item in _named_items(live)
        if isinstance(item.name, str)
    }
    for item in _named_items(shadow):
        name = names.get(_structural_key(item))
        if name is not None:
            item.name = conv(name)
    return shadow


class _Shadow(ABC):
    """The shadow tables of one rebuild and the swap that puts them live."""

    def __init__(self, projection: Projection, tables: dict[str, sa.Table]) -> None:
        self.projection = projection
        self.tables = tables

    @staticmethod
    def for_engine(projection: Projection, engine: AsyncEngine) -> _Shadow:
        if engine.dialect.name == "postgresql":
            return _PostgresShadow(projection)
        return _SqliteShadow(projection)

    @abstractmethod
    async def create(self, engine: AsyncEngine) -> None:
        """Create empty shadow tables, replacing any a failed rebuild left behind."""

    async def swap(
        self, engine: AsyncEngine, versions: Mapping[str, int], consumer: str | None
    ) -> None:
        async with engine.begin() as conn:
            if consumer is not None:
                await _reseed_consumer(conn, consumer, versions)
            await self._replace_live(conn)

    @abstractmethod
    async def _replace_live(self, conn: AsyncConnection) -> None:
        """Drop the live tables and put the shadow ones in their place."""

    @abstractmethod
    async def drop(self, conn: AsyncConnection) -> None:
        """Drop the shadow tables."""

    async def drop_quietly(self, engine: AsyncEngine) -> None:
        """Remove what a failed rebuild left behind; the live tables are untouched."""
        try:
            async with engine.begin() as conn:
                await self.drop(conn)
        except Exception as exc:  # noqa: BLE001 - the original error matters more
            log.warning("projection.shadow_cleanup_failed", error=repr(exc))


class _PostgresShadow(_Shadow):
    def __init__(self, projection: Projection) -> None:
        self.schema = f"rebuild_{projection.name}"
        metadata = sa.MetaData()
        super().__init__(
            projection,
            {
                name: _copy_table(projection.table(name), metadata, schema=self.schema)
                for name in projection.table_names
            },
        )
        self.metadata = metadata

    async def create(self, engine: AsyncEngine) -> None:
        async with engine.begin() as conn:
            await self.drop(conn)
            await conn.execute(sa.text(f'CREATE SCHEMA "{self.schema}"'))
            await conn.run_sync(self.metadata.create_all)

    async def _replace_live(self, conn: AsyncConnection) -> None:
        current = (await conn.execute(sa.text("SELECT current_schema()"))).scalar_one()
        for name in self.projection.table_names:
            live_schema = self.projection.table(name).schema or current
            await conn.execute(sa.text(f'DROP TABLE IF EXISTS "{live_schema}"."{name}"'))
            await conn.execute(
                sa.text(f'ALTER TABLE "{self.schema}"."{name}" SET SCHEMA "{live_schema}"')
            )
        # RESTRICT: anything still in the schema means something did not move; fail.
        await conn.execute(sa.text(f'DROP SCHEMA "{self.schema}" RESTRICT'))

    async def drop(self, conn: AsyncConnection) -> None:
        await conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))


class _SqliteShadow(_Shadow):
    def __init__(self, projection: Projection) -> None:
        metadata = sa.MetaData()
        tables = {}
        for name in projection.table_names:
            shadow = _copy_table(projection.table(name), metadata, name=f"{name}{_SQLITE_SUFFIX}")
            # Index names are database-wide in SQLite: the live ones still hold them.
            # The indexes are created in the swap, once the live tables are gone.
            shadow.indexes.clear()
            tables[name] = shadow
        super().__init__(projection, tables)
        self.metadata = metadata

    async def create(self, engine: AsyncEngine) -> None:
        async with engine.begin() as conn:
            await self.drop(conn)
            await conn.run_sync(self.metadata.create_all)

    async def _replace_live(self, conn: AsyncConnection) -> None:
        for name, shadow in self.tables.items():
            live = self.projection.table(name)
            await conn.execute(sa.text(f'DROP TABLE IF EXISTS "{name}"'))
            await conn.execute(sa.text(f'ALTER TABLE "{shadow.name}" RENAME TO "{name}"'))
            for index in live.indexes:
                await conn.run_sync(index.create)

    async def drop(self, conn: AsyncConnection) -> None:
        await conn.run_sync(self.metadata.drop_all)


async def _reseed_consumer(
    conn: AsyncConnection, consumer: str, versions: Mapping[str, int]
) -> None:
    """Make the consumer's per-stream versions those of the rebuilt tables."""
    c = _STREAMS.c
    if conn.dialect.name == "postgresql":
        # EXCLUSIVE conflicts with the ROW SHARE lock a consumer batch takes first (its
        # SELECT ... FOR UPDATE): the swap waits for the batch in flight, and the next
        # batch waits for the swap before it touches any table. SQLite's single writer
        # already guarantees both.
        await conn.execute(sa.text("LOCK TABLE consumer_streams IN EXCLUSIVE MODE"))
    live = await conn.execute(
        sa.select(c.stream_id, c.stream_version).where(c.consumer == consumer)
    )
    for stream_id, version in live.all():
        if version > versions.get(stream_id, 0):
            msg = (
                f"consumer {consumer!r} handled version {version} of {stream_id!r}, which "
                "the rebuild never saw; stop the consumer and rebuild again"
            )
            raise RebuildBehindError(msg)
    await conn.execute(sa.delete(_STREAMS).where(c.consumer == consumer))
    rows = [
        {"consumer": consumer, "stream_id": stream_id, "stream_version": version}
        for stream_id, version in versions.items()
    ]
    for start in range(0, len(rows), 5000):
        await conn.execute(_STREAMS.insert(), rows[start : start + 5000])
