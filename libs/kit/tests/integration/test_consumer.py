"""The consumer runtime against real NATS JetStream and both databases.

Exactly-once in effect: every test asserts on the handler's effect table, where an
event handled twice would show up twice.
"""

import asyncio
import importlib.util
import io
import signal
import sys
import types
import uuid
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import httpx
import nats.errors
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client import REGISTRY

from mentorship_kit import consumer as consumer_module
from mentorship_kit.consumer import ConsumerRuntime, DeadLetterRetryError
from mentorship_kit.db import create_engine
from mentorship_kit.deadletters import count_dead_letters, dead_letter_router, list_dead_letters
from mentorship_kit.eventstore import kit_metadata
from mentorship_kit.messaging import MSG_ID_HEADER, connect, ensure_stream, to_message
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


def _sample(name: str, consumer: str, **labels: str) -> float:
    value = REGISTRY.get_sample_value(name, {"service": "test", "consumer": consumer, **labels})
    return value or 0.0


@pytest.fixture
async def engine(database_url):
    engine = create_engine(database_url)
    await support.create_schema(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
async def nc(nats_server):
    nc = await connect(nats_server.url, name="test")
    await ensure_stream(nc.jetstream(), SERVICE)
    yield nc
    await nc.close()


def _runtime(engine, nc, consumer: str, handler=None, **options) -> ConsumerRuntime:
    return ConsumerRuntime(
        engine,
        nc.jetstream(),
        consumer=consumer,
        source_service=SERVICE,
        service="test",
        handler=handler or support.effect_recorder(consumer),
        **options,
    )


def _assert_each_once_in_stream_order(rows, published) -> None:
    assert sorted(row.event_id for row in rows) == sorted(str(e.event_id) for e in published)
    versions = defaultdict(list)
    for row in rows:
        versions[row.stream_id].append(row.version)
    for stream_versions in versions.values():
        assert stream_versions == list(range(1, len(stream_versions) + 1))


async def test_every_event_is_handled_once_in_stream_order(engine, nc):
    consumer = f"c-{uuid.uuid4().hex[:8]}"
    published = support.streams_of(5, 4)
    await support.publish(nc.jetstream(), published)

    async with support.running(_runtime(engine, nc, consumer, batch_size=7)):
        await wait_until(lambda: support.effect_count(engine, consumer), message="first event")
        await wait_until(
            lambda: _sample("mentorship_consumer_handled_total", consumer) == 20,
            message="20 handled",
        )

    _assert_each_once_in_stream_order(await support.effects(engine, consumer), published)
    positions = kit_metadata().tables["consumer_positions"]
    async with engine.connect() as conn:
        position = (await conn.execute(sa.select(positions.c.stream_sequence))).scalar_one()
    assert position == 20
    assert _sample("mentorship_consumer_lag_messages", consumer) == 0


async def test_a_republished_event_changes_nothing(engine, nc):
    consumer = f"c-{uuid.uuid4().hex[:8]}"
    event = support.recorded(f"thing-{uuid.uuid4()}", 1)
    message = to_message(event, SERVICE)
    js = nc.jetstream()
    await js.publish(message.subject, message.payload, headers=message.headers)
    # A relay rewound past JetStream's duplicate window publishes the event again.
    again = {**message.headers, MSG_ID_HEADER: f"rewound-{event.event_id}"}
    await js.publish(message.subject, message.payload, headers=again)

    async with support.running(_runtime(engine, nc, consumer)):
        await wait_until(
            lambda: _sample("mentorship_consumer_duplicates_skipped_total", consumer) == 1,
            message="duplicate skipped",
        )

    assert [row.event_id for row in await support.effects(engine, consumer)] == [
        str(event.event_id)
    ]


async def test_out_of_order_delivery_keeps_each_aggregate_in_order(engine, nc):
    consumer = f"c-{uuid.uuid4().hex[:8]}"
    stream, other = f"thing-{uuid.uuid4()}", f"thing-{uuid.uuid4()}"
    v1, v2, v3 = (support.recorded(stream, v) for v in (1, 2, 3))
    other_v1 = support.recorded(other, 1)
    # Version 2 reaches the stream before version 1, and version 1's first attempt fails.
    published = [v2, v1, v3, other_v1]
    await support.publish(nc.jetstream(), published)
    failed_once: set[str] = set()
    record = support.effect_recorder(consumer)

    async def flaky_on_v1(conn, event):
        if event.id == str(v1.event_id) and event.id not in failed_once:
            failed_once.add(event.id)
            raise ConnectionError("transient")
        await record(conn, event)

    runtime = _runtime(engine, nc, consumer, flaky_on_v1, backoff=(0.05, 0.1))
    async with support.running(runtime):
        await wait_until(
            lambda: support.effect_count(engine, consumer), message="first effect", timeout=30
        )
        await wait_until(
            lambda: _sample("mentorship_consumer_handled_total", consumer) == 4,
            message="all four handled",
        )

    rows = await support.effects(engine, consumer)
    assert [row.version for row in rows if row.stream_id == stream] == [1, 2, 3]
    _assert_each_once_in_stream_order(rows, published)
    waiting = _sample("mentorship_consumer_naks_total", consumer, reason="waiting_for_earlier")
    assert waiting >= 1
    assert _sample("mentorship_consumer_naks_total", consumer, reason="handler_error") == 1


@dataclass
class DeadLetterScenario:
    """Stream A: v1 fine, v2 always fails, v3 waits for v2; a poison message; stream B fine."""

    runtime: ConsumerRuntime
    consumer: str
    a: list
    b: list
    poison_id: str
    broken: set[str]

    async def dead_letters(self, engine) -> dict:
        async with engine.connect() as conn:
            page = await list_dead_letters(conn, consumer=self.consumer)
        return {item.event_id: item for item in page.items}


@pytest.fixture
async def dead_letter_scenario(engine, nc):
    consumer = f"c-{uuid.uuid4().hex[:8]}"
    stream, other = f"thing-{uuid.uuid4()}", f"thing-{uuid.uuid4()}"
    a = [support.recorded(stream, v) for v in (1, 2, 3)]
    b = [support.recorded(other, v) for v in (1, 2)]
    js = nc.jetstream()
    await support.publish(js, a[:2])
    poison_id = f"poison-{uuid.uuid4()}"
    await js.publish(
        f"mentorship.{SERVICE}.thing.thing_happened",
        b"{not json",
        headers={MSG_ID_HEADER: poison_id},
    )
    await support.publish(js, [a[2], *b])
    broken = {str(a[1].event_id)}
    record = support.effect_recorder(consumer)

    async def fails_on_broken(conn, event):
        if event.id in broken:
            raise RuntimeError("cannot handle this one")
        await record(conn, event)

    runtime = _runtime(engine, nc, consumer, fails_on_broken, max_deliver=3, backoff=(0.05, 0.1))
    async with support.running(runtime):
        await wait_until(
            lambda: _sample("mentorship_consumer_dead_lettered_total", consumer) == 3,
            message="three dead letters",
        )
        # Later events are handled although earlier ones keep failing.
        await wait_until(lambda: _effects_reach(engine, consumer, 3), message="others handled")
    return DeadLetterScenario(runtime, consumer, a, b, poison_id, broken)


async def test_poison_and_failing_events_are_dead_lettered_and_the_stream_flows_on(
    engine, dead_letter_scenario
):
    scenario = dead_letter_scenario
    a, b = scenario.a, scenario.b

    rows = await support.effects(engine, scenario.consumer)
    assert {row.event_id for row in rows} == {str(e.event_id) for e in (a[0], *b)}
    assert _sample("mentorship_consumer_dead_letters", scenario.consumer) == 3
    letters = await scenario.dead_letters(engine)
    poison = letters[scenario.poison_id]
    assert "unparseable" in poison.error
    assert poison.payload == "{not json"
    assert poison.deliveries == 1
    assert "cannot handle this one" in letters[str(a[1].event_id)].error
    assert letters[str(a[1].event_id)].deliveries == 3
    assert "waiting for version 2" in letters[str(a[2].event_id)].error


async def test_the_admin_router_pages_through_dead_letters(engine, dead_letter_scenario):
    app = FastAPI()
    app.state.context = SimpleNamespace(engine=engine)
    app.include_router(dead_letter_router())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        first = (await client.get("/v1/admin/dead-letters", params={"limit": 2})).json()
        cursor = first["next_cursor"]
        second = (
            await client.get("/v1/admin/dead-letters", params={"limit": 2, "cursor": cursor})
        ).json()
        bad = await client.get("/v1/admin/dead-letters", params={"cursor": "x"})
        poison = next(i for i in first["items"] + second["items"] if "unparseable" in i["error"])
        discarded = await client.delete(f"/v1/admin/dead-letters/{poison['id']}")
        again = await client.delete(f"/v1/admin/dead-letters/{poison['id']}")

    assert len(first["items"]) == 2
    assert len(second["items"]) == 1
    assert second["next_cursor"] is None
    listed = {item["event_id"] for item in first["items"] + second["items"]}
    assert listed == set(await dead_letter_scenario.dead_letters(engine)) | {poison["event_id"]}
    assert bad.status_code == 400
    assert (discarded.status_code, again.status_code) == (204, 404)


async def test_dead_letters_are_retried_in_order_once_the_handler_is_fixed(
    engine, dead_letter_scenario
):
    scenario = dead_letter_scenario
    letters = await scenario.dead_letters(engine)
    a2, a3 = letters[str(scenario.a[1].event_id)], letters[str(scenario.a[2].event_id)]
    scenario.broken.clear()

    with pytest.raises(DeadLetterRetryError, match="version 2"):
        await scenario.runtime.retry_dead_letter(a3.id)
    assert await scenario.runtime.retry_dead_letter(a2.id)
    assert await scenario.runtime.retry_dead_letter(a3.id)
    with pytest.raises(DeadLetterRetryError, match="not JSON"):
        await scenario.runtime.retry_dead_letter(letters[scenario.poison_id].id)

    rows = await support.effects(engine, scenario.consumer)
    stream = scenario.a[0].stream_id
    assert [row.version for row in rows if row.stream_id == stream] == [1, 2, 3]
    assert set(await scenario.dead_letters(engine)) == {scenario.poison_id}
    assert _sample("mentorship_consumer_dead_letters", scenario.consumer) == 1
    async with engine.connect() as conn:
        assert await count_dead_letters(conn, consumer=scenario.consumer) == 1


async def test_the_consumer_span_continues_the_publishers_trace(engine, nc, monkeypatch):
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(consumer_module, "tracer", provider.get_tracer("test"))
    trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    consumer = f"c-{uuid.uuid4().hex[:8]}"
    event = support.recorded(
        f"thing-{uuid.uuid4()}", 1, traceparent=f"00-{trace_id}-{parent_id}-01"
    )
    await support.publish(nc.jetstream(), [event])

    async with support.running(_runtime(engine, nc, consumer)):
        await wait_until(lambda: support.effect_count(engine, consumer), message="handled")

    (span,) = exporter.get_finished_spans()
    assert span.kind is SpanKind.CONSUMER
    assert format(span.context.trace_id, "032x") == trace_id
    assert format(span.parent.span_id, "016x") == parent_id
    assert span.attributes["messaging.message.id"] == str(event.event_id)


async def _effects_reach(engine, consumer: str, count: int) -> bool:
    return await support.effect_count(engine, consumer) >= count


async def _jetstream_ready(nc) -> bool:
    try:
        await nc.jetstream(timeout=0.5).stream_info(f"MENTORSHIP_{SERVICE.upper()}")
    except (nats.errors.Error, OSError):
        return False
    return True


async def test_the_consumer_resumes_by_itself_after_nats_restarts(engine, nats_server, nc):
    consumer = f"c-{uuid.uuid4().hex[:8]}"
    before = support.streams_of(10, 5)
    await support.publish(nc.jetstream(), before)
    record = support.effect_recorder(consumer)
    handled = 0
    paused = asyncio.Event()
    resume = asyncio.Event()

    async def pausing_mid_stream(conn, event):
        nonlocal handled
        handled += 1
        if handled == 15:
            # Hold a batch open while the server goes down underneath it.
            paused.set()
            await resume.wait()
        await record(conn, event)

    async with support.running(_runtime(engine, nc, consumer, pausing_mid_stream, batch_size=10)):
        await asyncio.wait_for(paused.wait(), timeout=30)
        nats_server.kill()
        await wait_until(lambda: not nc.is_connected, message="client noticed the outage")
        # The open batch commits and acks into the void; the next fetch starts while
        # the server is still down.
        resume.set()
        await wait_until(lambda: _effects_reach(engine, consumer, 15), message="commit")
        nats_server.start()
        await wait_until(lambda: _jetstream_ready(nc), message="JetStream back", timeout=30)
        after = support.streams_of(10, 2)
        await support.publish(nc.jetstream(), after)
        await wait_until(
            lambda: _sample("mentorship_consumer_handled_total", consumer) == 70,
            message="every event handled",
            timeout=30,
        )

    _assert_each_once_in_stream_order(await support.effects(engine, consumer), before + after)


async def test_a_consumer_killed_between_commit_and_ack_changes_nothing(engine, nats_server, nc):
    consumer = f"c-{uuid.uuid4().hex[:8]}"
    published = support.streams_of(10, 5)
    await support.publish(nc.jetstream(), published)
    ack_wait = 1.0

    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(SUPPORT_DIR / "crash_consumer.py"),
        str(engine.url.render_as_string(hide_password=False)),
        nats_server.url,
        consumer,
        "25",
        str(ack_wait),
    )
    assert await asyncio.wait_for(process.wait(), timeout=120) == -signal.SIGKILL
    # The batch holding the 25th event committed; from the 25th on, nothing was acked.
    committed = await support.effect_count(engine, consumer)
    assert committed >= 25

    runtime = _runtime(engine, nc, consumer, batch_size=10, ack_wait=ack_wait)
    async with support.running(runtime):
        await wait_until(
            lambda: _sample("mentorship_consumer_handled_total", consumer) == 50 - committed,
            message="the remaining events handled",
            timeout=30,
        )
        await wait_until(
            lambda: (
                _sample("mentorship_consumer_duplicates_skipped_total", consumer) >= committed - 24
            ),
            message="the unacknowledged events redelivered and skipped",
        )

    _assert_each_once_in_stream_order(await support.effects(engine, consumer), published)


def test_a_filter_on_single_event_types_is_refused():
    with pytest.raises(ValueError, match="whole aggregates"):
        ConsumerRuntime(
            create_engine("sqlite+aiosqlite:///:memory:"),
            None,
            consumer="c",
            source_service=SERVICE,
            handler=support.effect_recorder("c"),
            filter_subject=f"mentorship.{SERVICE}.thing.thing_happened",
        )


async def test_batches_that_cannot_commit_are_retried_until_the_database_is_back(engine, nc):
    consumer = f"c-{uuid.uuid4().hex[:8]}"
    published = support.streams_of(4, 3)
    # The consumer's bookkeeping table is out of reach, as in a database outage.
    async with engine.begin() as conn:
        await conn.execute(sa.text("ALTER TABLE consumer_streams RENAME TO consumer_streams_away"))
    await support.publish(nc.jetstream(), published)

    runtime = _runtime(engine, nc, consumer, max_deliver=2, backoff=(0.05, 0.1))
    async with support.running(runtime):
        # Well past max_deliver: an outage must not turn messages into dead letters.
        await wait_until(
            lambda: (
                _sample("mentorship_consumer_naks_total", consumer, reason="transaction_failed")
                >= 3 * len(published)
            ),
            message="repeated failed batches",
        )
        async with engine.begin() as conn:
            await conn.execute(
                sa.text("ALTER TABLE consumer_streams_away RENAME TO consumer_streams")
            )
        await wait_until(
            lambda: _sample("mentorship_consumer_handled_total", consumer) == len(published),
            message="everything handled once the database is back",
        )

    _assert_each_once_in_stream_order(await support.effects(engine, consumer), published)
    async with engine.connect() as conn:
        assert await count_dead_letters(conn, consumer=consumer) == 0


async def test_an_outage_does_not_use_up_the_tries_of_a_message_waiting_for_its_turn(engine, nc):
    """Version 2 of a stream is in the stream before version 1 and is delivered first.
    Deliveries spent while the database was away must not count: with them, version 2
    would be past max_deliver at its first real try and dead-lettered at once."""
    consumer = f"c-{uuid.uuid4().hex[:8]}"
    first, second = support.streams_of(1, 2)
    async with engine.begin() as conn:
        await conn.execute(sa.text("ALTER TABLE consumer_streams RENAME TO consumer_streams_away"))
    await support.publish(nc.jetstream(), [second, first])

    runtime = _runtime(engine, nc, consumer, max_deliver=2, backoff=(0.05, 0.1))
    async with support.running(runtime):
        await wait_until(
            lambda: (
                _sample("mentorship_consumer_naks_total", consumer, reason="transaction_failed")
                >= 3 * 2
            ),
            message="repeated failed batches",
            timeout=30,
        )
        async with engine.begin() as conn:
            await conn.execute(
                sa.text("ALTER TABLE consumer_streams_away RENAME TO consumer_streams")
            )
        await wait_until(
            lambda: _sample("mentorship_consumer_handled_total", consumer) == 2,
            message="both versions handled once the database is back",
            timeout=30,
        )

    _assert_each_once_in_stream_order(await support.effects(engine, consumer), [first, second])
    async with engine.connect() as conn:
        assert await count_dead_letters(conn, consumer=consumer) == 0


async def test_two_runtimes_of_one_consumer_still_handle_each_event_once_in_order(engine, nc):
    consumer = f"c-{uuid.uuid4().hex[:8]}"
    published = support.streams_of(20, 10)
    await support.publish(nc.jetstream(), published)

    first = _runtime(engine, nc, consumer, batch_size=10, backoff=(0.05, 0.1))
    second = _runtime(engine, nc, consumer, batch_size=10, backoff=(0.05, 0.1))
    async with support.running(first), support.running(second):
        await wait_until(
            lambda: _effects_reach(engine, consumer, len(published)),
            message="every event handled",
            timeout=30,
        )

    _assert_each_once_in_stream_order(await support.effects(engine, consumer), published)


async def test_an_idle_consumer_stops_whenever_it_is_cancelled(engine, nc):
    """Cancellation is never lost, whatever moment of the fetch cycle it lands in.

    On Python 3.11 ``asyncio.wait_for`` (which nats-py's fetch is built on) drops a
    cancellation that arrives together with the inner result -- here the server's 408 for
    an expired pull request, which comes back every ``fetch_timeout``.
    """
    consumer = f"c-{uuid.uuid4().hex[:8]}"
    for attempt in range(300):
        task = asyncio.create_task(_runtime(engine, nc, consumer, fetch_timeout=0.005).run())
        await asyncio.sleep(0.05 + (attempt % 17) * 0.0007)
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=30)
        if not done:
            stack = io.StringIO()
            task.print_stack(file=stack)
            where = stack.getvalue()
            pytest.fail(f"attempt {attempt}: the consumer ignored its cancellation in\n{where}")
