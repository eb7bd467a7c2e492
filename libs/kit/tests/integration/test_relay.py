"""The outbox relay against a real database and a real nats-server.

What must hold: every committed event reaches JetStream exactly once (ids compared),
in the store's order, with CloudEvents headers and a continued trace; the checkpoint
only moves after the PubAck; the relay survives a NATS restart and a rewind.
"""

import asyncio
import contextlib
import random
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from nats.js.errors import NotFoundError
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client import REGISTRY

from mentorship_kit import relay as relay_module
from mentorship_kit.db import create_engine
from mentorship_kit.eventstore import (
    START,
    Checkpoint,
    EventMetadata,
    EventStore,
    NewEvent,
    RecordedEvent,
)
from mentorship_kit.messaging import (
    MSG_ID_HEADER,
    connect,
    ensure_stream,
    stream_name,
)
from mentorship_kit.relay import OutboxRelay, relay_checkpoint, rewind
from mentorship_kit.testing import NatsCluster, stream_messages, wait_until

SERVICE = "relaytest"


@dataclass(frozen=True)
class Published:
    event_id: str
    stream_id: str
    version: int
    headers: dict[str, str]


@pytest.fixture
async def store(database_url):
    engine = create_engine(database_url)
    store = EventStore(engine)
    await store.create_schema()
    yield store
    await engine.dispose()


@pytest.fixture
async def pg_store(pg_database_url):
    engine = create_engine(pg_database_url)
    store = EventStore(engine)
    await store.create_schema()
    yield store
    await engine.dispose()


@pytest.fixture
async def js(nats_server):
    nc = await connect(nats_server.url, name="relay-test")
    yield nc.jetstream()
    await nc.close()


def thing(stream_id: str, n: int) -> NewEvent:
    return NewEvent(
        stream_type="thing", stream_id=stream_id, event_type="ThingHappened", data={"n": n}
    )


async def append_events(
    store: EventStore, *, streams: int, per_stream: int, metadata: EventMetadata | None = None
) -> list[RecordedEvent]:
    """Single-event transactions, round robin over fresh streams; returned in commit order."""
    ids = [f"thing-{uuid.uuid4()}" for _ in range(streams)]
    recorded: list[RecordedEvent] = []
    for version in range(per_stream):
        for stream_id in ids:
            async with store.transaction() as conn:
                recorded += await store.append(
                    conn, [thing(stream_id, version)], expected_version=version, metadata=metadata
                )
    return recorded


async def append_backlog(
    store: EventStore, *, streams: int, per_stream: int
) -> list[RecordedEvent]:
    """Many events quickly: one transaction per stream."""
    recorded: list[RecordedEvent] = []
    for _ in range(streams):
        stream_id = f"thing-{uuid.uuid4()}"
        async with store.transaction() as conn:
            recorded += await store.append(
                conn, [thing(stream_id, n) for n in range(per_stream)], expected_version=0
            )
    return recorded


async def published(js) -> list[Published]:
    """Every message on the service's stream, in stream order."""
    out: list[Published] = []
    for msg in await stream_messages(js, SERVICE):
        headers = dict(msg.headers or {})
        out.append(
            Published(
                event_id=headers[MSG_ID_HEADER],
                stream_id=headers["ce-subject"],
                version=int(headers["ce-streamversion"]),
                headers=headers,
            )
        )
    return out


async def stored_events(store: EventStore) -> list[tuple[str, str, int]]:
    e = store.events.c
    async with store.engine.connect() as conn:
        rows = await conn.execute(sa.select(e.event_id, e.stream_id, e.stream_version))
        return [(str(r.event_id), r.stream_id, r.stream_version) for r in rows]


def assert_exactly_once_in_stream_order(messages: list[Published], stored) -> None:
    ids = [m.event_id for m in messages]
    assert len(ids) == len(set(ids)), "an event reached JetStream twice"
    assert set(ids) == {event_id for event_id, _, _ in stored}, "an event is missing"
    versions: dict[str, list[int]] = defaultdict(list)
    for m in messages:
        versions[m.stream_id].append(m.version)
    expected: dict[str, int] = defaultdict(int)
    for _, stream_id, _ in stored:
        expected[stream_id] += 1
    for stream_id, seen in versions.items():
        assert seen == list(range(1, expected[stream_id] + 1)), f"{stream_id} out of order"


def metric(name: str) -> float:
    value = REGISTRY.get_sample_value(name, {"service": SERVICE, "relay": "relay"})
    return value or 0.0


@contextlib.asynccontextmanager
async def running(relay: OutboxRelay):
    task = asyncio.create_task(relay.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def newest_checkpoint(store: EventStore) -> Checkpoint:
    """The last committed event's checkpoint, whatever transactions still run.

    (``store.head()`` stops at the oldest running transaction of the whole PostgreSQL
    cluster, which another test's open transaction may hold back.)
    """
    e = store.events.c
    query = sa.select(e.tx_id, e.position).order_by(e.tx_id.desc(), e.position.desc()).limit(1)
    async with store.engine.connect() as conn:
        row = (await conn.execute(query)).first()
    return START if row is None else Checkpoint(row.tx_id, row.position)


async def caught_up(store: EventStore) -> bool:
    newest = await newest_checkpoint(store)
    return newest != START and await relay_checkpoint(store) == newest


async def test_relay_publishes_each_event_once_in_commit_order_as_a_cloudevent(store, js):
    recorded = await append_events(store, streams=3, per_stream=10)
    relay = OutboxRelay(store, js, service=SERVICE, batch_size=7, max_in_flight=3)
    published_before = metric("relay_events_published_total")
    started_at = time.time()

    async with running(relay):
        await wait_until(lambda: caught_up(store), timeout=30, message="relay caught up")
        assert relay.is_leader
        assert metric("relay_leader") == 1
        await wait_until(lambda: metric("relay_lag_events") == 0, timeout=30, message="no lag")

    messages = await published(js)
    assert [m.event_id for m in messages] == [str(e.event_id) for e in recorded]
    first, event = messages[0].headers, recorded[0]
    assert first["ce-id"] == str(event.event_id)
    assert first["ce-type"] == f"mentorship.{SERVICE}.thing.thing_happened.v1"
    assert first["ce-source"] == f"/mentorship/{SERVICE}"
    assert first["ce-subject"] == event.stream_id
    assert metric("relay_events_published_total") - published_before == 30
    assert metric("relay_last_checkpoint_timestamp_seconds") >= started_at
    assert metric("relay_leader") == 0  # stopped relays do not claim leadership


async def test_each_publish_is_a_producer_span_continuing_the_events_trace(store, js, monkeypatch):
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(relay_module, "tracer", provider.get_tracer("test"))
    trace_id, request_span = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
    meta = EventMetadata(traceparent=f"00-{trace_id}-{request_span}-01")
    await append_events(store, streams=1, per_stream=2, metadata=meta)

    async with running(OutboxRelay(store, js, service=SERVICE)):
        await wait_until(lambda: caught_up(store), timeout=30, message="relay caught up")

    spans = exporter.get_finished_spans()
    assert len(spans) == 2
    span = spans[0]
    assert span.name == f"publish mentorship.{SERVICE}.thing.thing_happened"
    assert span.kind is SpanKind.PRODUCER
    assert format(span.context.trace_id, "032x") == trace_id
    assert span.parent is not None
    assert format(span.parent.span_id, "016x") == request_span
    # The consumer continues from the publish span, not from the request's span.
    header = (await published(js))[0].headers["traceparent"]
    assert header == f"00-{trace_id}-{format(span.context.span_id, '016x')}-01"


async def test_gap_trap_concurrent_writers_every_committed_event_reaches_jetstream_once(
    pg_store, js
):
    """8 writers, 1,200 events, transactions held open at random: none skipped, none
    doubled. (A count, not a duration: a loaded machine writes more slowly, not less.)"""
    store = pg_store
    target = 1200
    written_so_far = 0
    writing = asyncio.Event()
    writing.set()
    naive_seen: set[str] = set()

    async def writer(seed: int) -> int:
        nonlocal written_so_far
        rng = random.Random(seed)
        versions = {f"w{seed}-{uuid.uuid4()}": 0 for _ in range(12)}
        written = 0
        while written_so_far < target:
            stream_id = rng.choice(list(versions))
            async with store.transaction() as conn:
                await store.append(
                    conn, [thing(stream_id, written)], expected_version=versions[stream_id]
                )
                if rng.random() < 0.3:
                    # Hold the transaction open so that later ones commit first: its
                    # position was taken at INSERT, it becomes visible only now.
                    await asyncio.sleep(rng.uniform(0.001, 0.02))
            versions[stream_id] += 1
            written += 1
            written_so_far += 1
        return written

    async def naive_tailer() -> None:
        """What a `position > last` reader sees: the bug the relay must not have."""
        last = 0
        e = store.events.c
        while True:
            # One last read once every writer has committed: what it still misses, it
            # skipped for good.
            finished = not writing.is_set()
            async with store.engine.connect() as conn:
                rows = (
                    await conn.execute(
                        sa.select(e.position, e.event_id)
                        .where(e.position > last)
                        .order_by(e.position)
                    )
                ).all()
            for row in rows:
                naive_seen.add(str(row.event_id))
                last = row.position
            if finished:
                return
            await asyncio.sleep(0.002)

    async with running(OutboxRelay(store, js, service=SERVICE)):
        tailer = asyncio.create_task(naive_tailer())
        written = await asyncio.gather(*(writer(seed) for seed in range(8)))
        writing.clear()
        await tailer
        await wait_until(lambda: caught_up(store), timeout=60, message="relay caught up")

    stored = await stored_events(store)
    assert len(stored) == sum(written) > 1000
    messages = await published(js)
    assert_exactly_once_in_stream_order(messages, stored)
    # The workload really commits out of position order: a naive tailer skipped events.
    assert len(naive_seen) < len(stored)


async def test_an_event_committed_late_is_published_where_a_naive_tailer_skips_it(pg_store, js):
    store = pg_store
    early, late = f"thing-{uuid.uuid4()}", f"thing-{uuid.uuid4()}"
    e = store.events.c
    # A poll interval far beyond the deadlines: only the held-back re-check can help.
    relay = OutboxRelay(store, js, service=SERVICE, poll_interval=600)
    async with running(relay):
        await wait_until(lambda: relay.is_leader, timeout=30)
        # The slow transaction commits without a notification (no store.transaction()),
        # like a transaction in another database that holds the read horizon back.
        async with store.engine.begin() as slow:
            held = await store.append(slow, [thing(early, 1)], expected_version=0)
            async with store.transaction() as fast:
                quick = await store.append(fast, [thing(late, 1)], expected_version=0)
            # The later position is visible first; a naive tailer moves past the held one.
            async with store.engine.connect() as conn:
                naive_last = (await conn.execute(sa.select(sa.func.max(e.position)))).scalar()
            assert naive_last == quick[0].position > held[0].position
            # The relay cannot publish the committed event yet (the open transaction is
            # older), but it reports it as lag.
            await wait_until(lambda: metric("relay_lag_events") == 1, timeout=30)
            assert await published(js) == []
        await wait_until(lambda: caught_up(store), timeout=30, message="relay caught up")

    async with store.engine.connect() as conn:
        naive_after = (
            await conn.execute(sa.select(e.event_id).where(e.position > naive_last))
        ).all()
    assert naive_after == []  # the naive tailer never sees the late commit
    assert [m.event_id for m in await published(js)] == [
        str(held[0].event_id),
        str(quick[0].event_id),
    ]


async def test_relay_resumes_by_itself_after_nats_server_restart(pg_store, js, nats_server):
    store = pg_store
    stop = asyncio.Event()

    async def writer() -> int:
        streams = {f"thing-{uuid.uuid4()}": 0 for _ in range(5)}
        written = 0
        while not stop.is_set():
            for stream_id, version in streams.items():
                async with store.transaction() as conn:
                    await store.append(conn, [thing(stream_id, written)], expected_version=version)
                streams[stream_id] = version + 1
                written += 1
        return written

    backlog = await append_backlog(store, streams=20, per_stream=150)
    relay = OutboxRelay(store, js, service=SERVICE, batch_size=100, ack_timeout=1.0)
    async with running(relay):
        writing = asyncio.create_task(writer())
        # Restart while the backlog drains, with publishes in flight.
        await wait_until(lambda: relay.checkpoint != START, timeout=30, message="publishing")
        await asyncio.to_thread(nats_server.restart)
        published_after_restart = metric("relay_events_published_total")
        await wait_until(
            lambda: metric("relay_events_published_total") > published_after_restart + 100,
            timeout=30,
            message="publishing after the restart",
        )
        stop.set()
        written = await writing
        await wait_until(lambda: caught_up(store), timeout=30, message="relay caught up")

    stored = await stored_events(store)
    assert len(stored) == written + len(backlog)
    assert_exactly_once_in_stream_order(await published(js), stored)


async def test_rewind_makes_the_running_relay_publish_everything_again(store, js):
    recorded = await append_events(store, streams=2, per_stream=10)
    relay = OutboxRelay(store, js, service=SERVICE)
    async with running(relay):
        await wait_until(lambda: caught_up(store), timeout=30, message="relay caught up")
        head = await newest_checkpoint(store)
        duplicates_before = metric("relay_duplicate_acks_total")

        previous = await rewind(store, to=START)

        assert previous == head
        # Every event went out again (JetStream recognised each copy) and the
        # checkpoint came forward to the head once more.
        await wait_until(
            lambda: metric("relay_duplicate_acks_total") - duplicates_before == 20,
            timeout=30,
            message="all events re-published",
        )
        await wait_until(lambda: caught_up(store), timeout=30, message="relay caught up")
    messages = await published(js)
    assert [m.event_id for m in messages] == [str(e.event_id) for e in recorded]


async def test_rewind_restores_messages_jetstream_lost(store, js):
    """NATS is transport, not truth: a lost stream is refilled from the event store."""
    recorded = await append_events(store, streams=2, per_stream=5)
    relay = OutboxRelay(store, js, service=SERVICE)
    async with running(relay):
        await wait_until(lambda: caught_up(store), timeout=30, message="relay caught up")
        # Deleting the stream also forgets its duplicate window: a real loss. (A purge
        # would keep the window, and JetStream would drop the re-published copies.)
        await js.delete_stream(stream_name(SERVICE))

        await rewind(store, to=START)

        await wait_until(
            lambda: _message_count(js, 10), timeout=30, message="messages re-published"
        )
        await wait_until(lambda: caught_up(store), timeout=30, message="relay caught up")
    messages = await published(js)
    assert [m.event_id for m in messages] == [str(e.event_id) for e in recorded]


async def _message_count(js, expected: int) -> bool:
    with contextlib.suppress(NotFoundError):
        return (await js.stream_info(stream_name(SERVICE))).state.messages == expected
    return False


async def test_standby_relay_takes_over_when_the_leader_stops(store, js):
    relays = [OutboxRelay(store, js, service=SERVICE) for _ in range(2)]
    tasks = {relay: asyncio.create_task(relay.run()) for relay in relays}
    try:
        leader = await wait_until(
            lambda: next((r for r in relays if r.is_leader), None), timeout=30
        )
        standby = next(r for r in relays if r is not leader)
        before = await append_events(store, streams=2, per_stream=5)
        await wait_until(lambda: caught_up(store), timeout=30, message="leader caught up")
        assert not standby.is_leader

        tasks[leader].cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await tasks[leader]
        await wait_until(lambda: standby.is_leader, timeout=30, message="standby took over")
        after = await append_events(store, streams=2, per_stream=5)
        await wait_until(lambda: caught_up(store), timeout=30, message="standby caught up")
    finally:
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
    messages = await published(js)
    assert [m.event_id for m in messages] == [str(e.event_id) for e in before + after]


async def test_losing_the_lock_connection_stops_the_leader_until_it_leads_again(pg_store, js):
    store = pg_store
    relay = OutboxRelay(store, js, service=SERVICE)

    async def lock_holder() -> int | None:
        async with store.engine.connect() as conn:
            query = sa.text("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted")
            return (await conn.execute(query)).scalar()

    async with running(relay):
        first_pid = await wait_until(lock_holder, timeout=30, message="lock taken")
        async with store.engine.connect() as conn:
            await conn.execute(sa.select(sa.func.pg_terminate_backend(first_pid)))
        # The relay notices within its check interval and leads again on a new session.
        second_pid = await wait_until(
            lambda: _other_holder(lock_holder, first_pid), timeout=30, message="lock retaken"
        )
        assert second_pid != first_pid
        recorded = await append_events(store, streams=1, per_stream=5)
        await wait_until(lambda: caught_up(store), timeout=30, message="relay caught up")
    assert [m.event_id for m in await published(js)] == [str(e.event_id) for e in recorded]


async def _other_holder(lock_holder, old_pid: int) -> int | None:
    pid = await lock_holder()
    return pid if pid not in (None, old_pid) else None


class LosingJetStream:
    """A real JetStream context that silently drops one publish, as a cut connection does.

    The dropped message's PubAck never comes; what JetStream does with the messages
    after it is the real server's behaviour.
    """

    def __init__(self, js, *, lose_call: int) -> None:
        self._js = js
        self._calls = 0
        self._lose_call = lose_call

    def __getattr__(self, name):
        return getattr(self._js, name)

    async def publish_async(self, subject, payload=b"", **kwargs):
        self._calls += 1
        if self._calls == self._lose_call:
            return asyncio.get_running_loop().create_future()
        return await self._js.publish_async(subject, payload, **kwargs)


async def test_a_message_lost_in_transit_is_not_overtaken_by_the_ones_after_it(store, js):
    recorded = await append_events(store, streams=2, per_stream=10)
    lossy = LosingJetStream(js, lose_call=5)
    relay = OutboxRelay(store, lossy, service=SERVICE, batch_size=20, ack_timeout=1.0)
    failures_before = metric("relay_publish_failures_total")

    async with running(relay):
        await wait_until(lambda: caught_up(store), timeout=30, message="relay caught up")

    # JetStream refused the messages after the gap (expected last message id), so the
    # lost one went out again before them: the stream keeps the commit order.
    assert metric("relay_publish_failures_total") - failures_before == 1
    messages = await published(js)
    assert [m.event_id for m in messages] == [str(e.event_id) for e in recorded]


async def test_messages_jetstream_acknowledged_then_lost_are_published_again(store, js):
    before = await append_events(store, streams=2, per_stream=5)
    repairs_before = metric("relay_jetstream_losses_total")
    async with running(OutboxRelay(store, js, service=SERVICE)):
        await wait_until(lambda: caught_up(store), timeout=30, message="relay caught up")
        # The server comes back without what it had acknowledged.
        await js.delete_stream(stream_name(SERVICE))
        await ensure_stream(js, SERVICE)

        after = await append_events(store, streams=1, per_stream=3)

        await wait_until(lambda: _message_count(js, 13), timeout=30, message="repaired")
        await wait_until(lambda: caught_up(store), timeout=30, message="relay caught up")
    assert metric("relay_jetstream_losses_total") - repairs_before == 1
    messages = await published(js)
    assert [m.event_id for m in messages] == [str(e.event_id) for e in before + after]


async def test_the_relay_keeps_the_streams_replica_count_on_a_cluster(store):
    """A service configured for R3 streams (NATS_STREAM_REPLICAS=3) must not see its
    relay scale the stream back down when it (re)starts publishing."""
    with NatsCluster(size=3) as cluster:
        nc = await connect(cluster.urls, name="relay-replicas")
        try:
            js = nc.jetstream()
            await wait_until(
                lambda: _created(js, replicas=3), timeout=30, message="an R3 stream created"
            )
            recorded = await append_events(store, streams=2, per_stream=3)
            async with running(OutboxRelay(store, js, service=SERVICE, stream_replicas=3)):
                await wait_until(lambda: caught_up(store), timeout=30, message="relay caught up")
            info = await js.stream_info(stream_name(SERVICE))
        finally:
            await nc.close()
    assert info.config.num_replicas == 3
    assert info.state.messages == len(recorded)
    assert info.cluster is not None
    assert len(info.cluster.replicas or []) == 2  # the leader and two followers


async def _created(js, *, replicas: int) -> bool:
    """ensure_stream, retried while the new cluster elects its JetStream leader."""
    try:
        await ensure_stream(js, SERVICE, replicas=replicas)
    except Exception:  # noqa: BLE001 - "no JetStream leader yet" and the like: poll again
        return False
    return True
