"""Projections rebuilt from zero equal the incrementally built ones, row by row."""

import gc
import importlib.util
import types
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY
from sqlalchemy.dialects import postgresql, sqlite

from mentorship_contracts import CloudEvent
from mentorship_kit.consumer import ConsumerRuntime
from mentorship_kit.db import create_engine
from mentorship_kit.eventstore import EventStore, NewEvent, kit_metadata
from mentorship_kit.eventstore.tables import NAMING_CONVENTION
from mentorship_kit.messaging import connect, ensure_stream
from mentorship_kit.projection import (
    REBUILD_GC_THRESHOLD,
    Projection,
    RebuildBehindError,
    inline_handler,
    jetstream_events,
    rebuild,
    store_events,
)
from mentorship_kit.testing import wait_until

SUPPORT_DIR = Path(__file__).parent / "consumer_support"


def _load_support() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("consumer_support", SUPPORT_DIR / "support.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


support = _load_support()
SERVICE = support.SERVICE

metadata = kit_metadata()
model_metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
thing_totals = sa.Table(
    "thing_totals",
    model_metadata,
    sa.Column("stream_id", sa.String(200), primary_key=True),
    sa.Column("events", sa.Integer, nullable=False),
    sa.Column("total", sa.Integer, nullable=False),
    sa.Column("last_version", sa.Integer, nullable=False, index=True),
    sa.CheckConstraint("events > 0", name="events_positive"),
)
thing_log = sa.Table(
    "thing_log",
    model_metadata,
    sa.Column("event_id", sa.String(64), primary_key=True),
    sa.Column("stream_id", sa.String(200), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("n", sa.Integer, nullable=False),
    sa.UniqueConstraint("stream_id", "version"),
    sa.Index("ix_thing_log_n_stream", "n", "stream_id"),
)


class ThingTotals(Projection):
    """Per stream: how many events and the sum of their ``n``; plus every event."""

    name = "thing_totals"

    def __init__(self) -> None:
        super().__init__(thing_totals, thing_log)
        self.fail_on: str | None = None
        self.gc_thresholds: list[int] = []

    async def handle(self, conn, event: CloudEvent) -> None:
        self.gc_thresholds.append(gc.get_threshold()[0])
        if event.id == self.fail_on:
            raise RuntimeError("projection bug")
        n = int(event.data["n"])
        totals, log = self.table("thing_totals"), self.table("thing_log")
        await conn.execute(
            log.insert().values(
                event_id=event.id, stream_id=event.subject, version=event.streamversion, n=n
            )
        )
        insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        stmt = insert(totals).values(
            stream_id=event.subject, events=1, total=n, last_version=event.streamversion
        )
        await conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["stream_id"],
                set_={
                    "events": totals.c.events + 1,
                    "total": totals.c.total + n,
                    "last_version": stmt.excluded.last_version,
                },
            )
        )


async def snapshot(engine) -> dict[str, list[tuple]]:
    async with engine.connect() as conn:
        return {
            table.name: [
                tuple(row)
                for row in await conn.execute(sa.select(table).order_by(*table.primary_key.columns))
            ]
            for table in (thing_totals, thing_log)
        }


async def schema_objects(engine) -> dict[str, object]:
    """Tables, index names and constraint names as the database reports them."""

    def inspect(sync_conn):
        inspector = sa.inspect(sync_conn)
        return {
            "schemas": sorted(inspector.get_schema_names()),
            "tables": sorted(inspector.get_table_names()),
            "indexes": {
                t: sorted(i["name"] for i in inspector.get_indexes(t))
                for t in ("thing_totals", "thing_log")
            },
            "checks": sorted(c["name"] for c in inspector.get_check_constraints("thing_totals")),
            "uniques": sorted(c["name"] for c in inspector.get_unique_constraints("thing_log")),
        }

    async with engine.connect() as conn:
        return await conn.run_sync(inspect)


@pytest.fixture
async def engine(database_url):
    engine = create_engine(database_url)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
        await conn.run_sync(model_metadata.create_all)
    yield engine
    await engine.dispose()


@pytest.fixture
async def nc(nats_server):
    nc = await connect(nats_server.url, name="test")
    await ensure_stream(nc.jetstream(), SERVICE)
    yield nc
    await nc.close()


async def _append_history(store: EventStore, projection: Projection) -> None:
    """30 events of 6 streams, each fed to the projection in its own transaction."""
    inline = inline_handler(projection, SERVICE)
    streams = [f"thing-{uuid.uuid4()}" for _ in range(6)]
    for version in range(1, 6):
        for index, stream in enumerate(streams):
            event = NewEvent("thing", stream, "ThingHappened", {"n": version * 10 + index})
            async with store.transaction() as conn:
                for recorded in await store.append(conn, [event], expected_version=version - 1):
                    await inline(conn, recorded)


async def test_a_rebuild_from_the_event_store_equals_the_inline_model(engine):
    store = EventStore(engine, metadata=metadata)
    projection = ThingTotals()
    await _append_history(store, projection)
    incremental, objects = await snapshot(engine), await schema_objects(engine)
    assert len(incremental["thing_log"]) == 30
    seen: list[int] = []
    thresholds = gc.get_threshold()
    projection.gc_thresholds.clear()

    result = await rebuild(
        projection, engine, store_events(store, SERVICE), progress=seen.append, batch_size=7
    )

    # The collector ran on a raised first threshold while the events were replayed.
    assert min(projection.gc_thresholds) >= REBUILD_GC_THRESHOLD
    assert gc.get_threshold() == thresholds
    assert await snapshot(engine) == incremental
    assert await schema_objects(engine) == objects
    assert (result.events, result.duplicates, result.gaps) == (30, 0, 0)
    assert seen[-1] == 30
    assert seen == sorted(seen)
    gauge = REGISTRY.get_sample_value(
        "mentorship_projection_rebuild_events", {"projection": "thing_totals"}
    )
    assert gauge == 30

    again = await rebuild(projection, engine, store_events(store, SERVICE))
    assert again.events == 30
    assert await snapshot(engine) == incremental
    assert await schema_objects(engine) == objects


def _consumer_sample(name: str, consumer: str) -> float:
    labels = {"service": "test", "consumer": consumer}
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def _run_consumer(engine, nc, consumer: str, *, until: str, increase: int) -> None:
    """Run the projection's consumer until the ``until`` counter rose by ``increase``."""
    runtime = ConsumerRuntime(
        engine,
        nc.jetstream(),
        consumer=consumer,
        source_service=SERVICE,
        service="test",
        handler=ThingTotals().handle,
    )
    target = _consumer_sample(until, consumer) + increase
    async with support.running(runtime):
        await wait_until(lambda: _consumer_sample(until, consumer) == target, message=until)


HANDLED = "mentorship_consumer_handled_total"
DUPLICATES = "mentorship_consumer_duplicates_skipped_total"


async def _consumer_versions(engine, consumer: str) -> dict[str, int]:
    streams = kit_metadata().tables["consumer_streams"]
    query = sa.select(streams.c.stream_id, streams.c.stream_version).where(
        streams.c.consumer == consumer
    )
    async with engine.connect() as conn:
        return {row.stream_id: row.stream_version for row in await conn.execute(query)}


async def test_a_rebuild_from_jetstream_equals_the_consumer_fed_model(engine, nc):
    consumer = f"proj-{uuid.uuid4().hex[:8]}"
    published = support.streams_of(8, 4)
    js = nc.jetstream()
    await support.publish(js, published)
    # A relay rewound past the duplicate window put one event into the stream twice.
    again = support.to_message(published[3])
    await js.publish(again.subject, again.payload, headers={**again.headers, "Nats-Msg-Id": "x"})
    await _run_consumer(engine, nc, consumer, until=HANDLED, increase=32)
    incremental = await snapshot(engine)
    assert len(incremental["thing_log"]) == 32

    result = await rebuild(ThingTotals(), engine, jetstream_events(js, SERVICE), consumer=consumer)

    assert (result.events, result.duplicates) == (32, 1)
    assert await snapshot(engine) == incremental


async def test_a_consumer_resumed_after_a_rebuild_skips_what_the_rebuild_applied(engine, nc):
    consumer = f"proj-{uuid.uuid4().hex[:8]}"
    published = support.streams_of(5, 3)
    js = nc.jetstream()
    await support.publish(js, published)
    await _run_consumer(engine, nc, consumer, until=HANDLED, increase=15)
    # More events arrive while the consumer is stopped for the rebuild.
    later = [support.recorded(stream, 4, n=4) for stream in {e.stream_id for e in published}]
    await support.publish(js, later)

    await rebuild(ThingTotals(), engine, jetstream_events(js, SERVICE), consumer=consumer)
    rebuilt = await snapshot(engine)
    assert await _consumer_versions(engine, consumer) == {e.stream_id: 4 for e in later}

    await _run_consumer(engine, nc, consumer, until=DUPLICATES, increase=len(later))
    assert await snapshot(engine) == rebuilt
    assert {row[1] for row in rebuilt["thing_totals"]} == {4}


async def test_replaying_an_empty_stream_builds_an_empty_model(engine, nc):
    result = await rebuild(ThingTotals(), engine, jetstream_events(nc.jetstream(), SERVICE))
    assert result.events == 0
    assert await snapshot(engine) == {"thing_totals": [], "thing_log": []}


async def test_a_rebuild_that_missed_what_the_consumer_handled_is_refused(engine, nc):
    consumer = f"proj-{uuid.uuid4().hex[:8]}"
    published = support.streams_of(3, 3)
    await support.publish(nc.jetstream(), published)
    await _run_consumer(engine, nc, consumer, until=HANDLED, increase=9)
    incremental, objects = await snapshot(engine), await schema_objects(engine)

    async def first_half():
        for event in published[:4]:
            yield support.cloudevent(event)

    with pytest.raises(RebuildBehindError):
        await rebuild(ThingTotals(), engine, first_half(), consumer=consumer)

    assert await snapshot(engine) == incremental
    assert await schema_objects(engine) == objects


async def test_a_failing_rebuild_leaves_the_live_model_alone(engine):
    store = EventStore(engine, metadata=metadata)
    projection = ThingTotals()
    await _append_history(store, projection)
    incremental, objects = await snapshot(engine), await schema_objects(engine)
    projection.fail_on = str((await store.read_all(limit=10))[-1].event_id)
    thresholds = gc.get_threshold()

    with pytest.raises(RuntimeError, match="projection bug"):
        await rebuild(projection, engine, store_events(store, SERVICE), batch_size=4)

    assert gc.get_threshold() == thresholds
    assert await snapshot(engine) == incremental
    assert await schema_objects(engine) == objects
