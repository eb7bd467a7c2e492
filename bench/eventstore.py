"""Event-store benchmark: the write path, the relay and end-to-end latency.

Prints one JSON object. Every rate is measured beside its raw floor in the same run, so
the ratio means something on a noisy machine:

- append_per_s: single-event command transactions (EventStore.transaction + append +
  relay wake-up), 16 concurrent writers, PostgreSQL;
- asyncpg_floor_per_s: plain asyncpg BEGIN + INSERT + COMMIT of the same rows, same
  concurrency (the same single-event transaction without the kit);
- asyncpg_autocommit_per_s: the same INSERT as one autocommitted statement (one round
  trip: the bound for any write path that must also record an idempotency key in the
  same transaction, reported so the ratio's reference is visible);
- relay_drain_per_s: a backlog of 100,000 events published to JetStream by the relay;
- e2e_p50_ms / e2e_p99_ms: append → relay → JetStream → consumer commit, at 500 appends/s,
  after a warm-up second at the same rate (e2e_warmup_p99_ms: that second's own p99 —
  the first burst after a start pays for prepared statements and first fetches).

    python bench/eventstore.py [--database-url postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import structlog
import uvloop
from nats.js.errors import NotFoundError

from mentorship_contracts import CloudEvent
from mentorship_kit.consumer import ConsumerRuntime
from mentorship_kit.db import create_engine, freeze_startup_heap, warm_pool
from mentorship_kit.eventstore import EventStore, NewEvent
from mentorship_kit.messaging import connect, stream_name
from mentorship_kit.relay import OutboxRelay, relay_checkpoint
from mentorship_kit.testing import NatsServer, temporary_postgres_database, wait_until
from mentorship_kit.testing.postgres import asyncpg_dsn

CONCURRENCY = 16
WARMUP_SECONDS = 1.0
SERVICE = "bench"
# The e2e stage publishes to a stream of its own, apart from the drain stage's backlog.
LIVE_SERVICE = "benchlive"


def _event(stream_id: str, n: int = 0) -> NewEvent:
    return NewEvent(
        stream_type="thing",
        stream_id=stream_id,
        event_type="ThingHappened",
        data={"n": n, "note": "benchmark payload of a realistic size", "tags": ["a", "b"]},
    )


async def _run_for(seconds: float, workers: int, op: Callable[[], Awaitable[None]]) -> float:
    """Operations per second achieved by ``workers`` tasks looping ``op`` for ``seconds``."""
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await op()
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    return done / (time.perf_counter() - started)


async def bench_writes(url: str, seconds: float, rounds: int) -> dict[str, float]:
    engine = create_engine(url, pool_size=CONCURRENCY)
    store = EventStore(engine)
    await store.create_schema()
    # Both pools open their connections before the clock starts (asyncpg's min_size).
    await warm_pool(engine)
    pool = await asyncpg.create_pool(asyncpg_dsn(url), min_size=CONCURRENCY, max_size=CONCURRENCY)
    await pool.execute(
        "CREATE TABLE floor_events (position bigserial PRIMARY KEY, event_id uuid UNIQUE,"
        " stream_id text, stream_version int, event_type text, data jsonb,"
        " recorded_at timestamptz DEFAULT now(), UNIQUE (stream_id, stream_version))"
    )

    async def append() -> None:
        async with store.transaction() as conn:
            await store.append(conn, [_event(f"thing-{uuid.uuid4()}")], expected_version=0)

    floor_insert = (
        "INSERT INTO floor_events (event_id, stream_id, stream_version, event_type, data)"
        " VALUES ($1, $2, 1, 'ThingHappened', $3::jsonb)"
    )

    def floor_row() -> tuple[uuid.UUID, str, str]:
        payload = orjson.dumps(dict(_event("x").data)).decode()
        return uuid.uuid4(), f"thing-{uuid.uuid4()}", payload

    async def floor() -> None:
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(floor_insert, *floor_row())

    async def autocommit() -> None:
        await pool.execute(floor_insert, *floor_row())

    appends: list[float] = []
    floors: list[float] = []
    autocommits: list[float] = []
    # Alternate them so that all see the same machine noise.
    for _ in range(rounds):
        floors.append(await _run_for(seconds, CONCURRENCY, floor))
        appends.append(await _run_for(seconds, CONCURRENCY, append))
        autocommits.append(await _run_for(seconds, CONCURRENCY, autocommit))
    await store.close()
    await pool.close()
    await engine.dispose()
    append_rate = statistics.mean(appends)
    floor_rate = statistics.mean(floors)
    return {
        "append_per_s": round(append_rate),
        "asyncpg_floor_per_s": round(floor_rate),
        "append_to_floor_ratio": round(append_rate / floor_rate, 3),
        "asyncpg_autocommit_per_s": round(statistics.mean(autocommits)),
    }


async def bench_drain(url: str, nats_url: str, backlog: int) -> dict[str, float]:
    engine = create_engine(url)
    store = EventStore(engine)
    await store.create_schema()
    chunk = 5000
    for start in range(0, backlog, chunk):
        batches = [([_event(f"thing-{uuid.uuid4()}", n)], 0) for n in range(start, start + chunk)]
        async with engine.begin() as conn:
            await store.append_many(conn, batches)
    head = await store.head()
    nc = await connect(nats_url, name="bench-drain")
    relay = OutboxRelay(store, nc.jetstream(), service=SERVICE)
    started = time.perf_counter()
    task = asyncio.create_task(relay.run())
    await wait_until(
        lambda: relay.checkpoint >= head, timeout=300, interval=0.01, message="relay drained"
    )
    elapsed = time.perf_counter() - started
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert await relay_checkpoint(store) == head  # noqa: S101 - the drain really finished
    await nc.drain()
    await engine.dispose()
    return {"relay_drain_events": backlog, "relay_drain_per_s": round(backlog / elapsed)}


async def bench_e2e(
    producer_url: str, consumer_url: str, nats_url: str, rate: float, seconds: float
) -> dict[str, Any]:
    """Writer and relay here (the producing service), the consumer in its own process."""
    producer = EventStore(create_engine(producer_url))
    await producer.create_schema()
    warmup = int(rate * WARMUP_SECONDS)
    total = warmup + int(rate * seconds)
    nc = await connect(nats_url, name="bench-e2e")
    relay = OutboxRelay(producer, nc.jetstream(), service=LIVE_SERVICE)
    relay_task = asyncio.create_task(relay.run())
    await wait_until(lambda: relay.is_leader, timeout=30, message="relay leading")
    results = Path(tempfile.mkdtemp(prefix="bench-e2e-")) / "latencies.json"
    consumer = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--consume",
        consumer_url,
        nats_url,
        str(total),
        str(results),
        stdout=asyncio.subprocess.DEVNULL,
    )
    js = nc.jetstream()

    async def subscribed() -> bool:
        try:
            await js.consumer_info(stream_name(LIVE_SERVICE), "bench-e2e")
        except NotFoundError:
            return False
        return True

    await wait_until(subscribed, timeout=60, message="consumer subscribed")
    # What a service does once started (mentorship_kit.runtime): a warm pool, a frozen heap.
    await warm_pool(producer.engine)
    freeze_startup_heap()
    interval = 1 / rate
    begin = time.perf_counter()
    writes: list[asyncio.Task[None]] = []

    async def write(n: int) -> None:
        # time.monotonic() is one clock for every process on the machine (Linux).
        event = NewEvent(
            stream_type="thing",
            stream_id=f"thing-{uuid.uuid4()}",
            event_type="ThingHappened",
            data={"n": n, "sent_at": time.monotonic()},
        )
        async with producer.transaction() as conn:
            await producer.append(conn, [event], expected_version=0)

    for n in range(total):
        # Open-loop load: each write starts on schedule whether or not earlier ones finished.
        await asyncio.sleep(max(0.0, begin + n * interval - time.perf_counter()))
        writes.append(asyncio.create_task(write(n)))
    await asyncio.gather(*writes)
    if await asyncio.wait_for(consumer.wait(), timeout=120) != 0:
        msg = "the consumer process failed"
        raise RuntimeError(msg)
    relay_task.cancel()
    await asyncio.gather(relay_task, return_exceptions=True)
    await nc.drain()
    await producer.close()
    await producer.engine.dispose()
    seen: list[tuple[int, float]] = json.loads(results.read_text())
    ordered = sorted(latency for n, latency in seen if n >= warmup)
    first = sorted(latency for n, latency in seen if n < warmup)
    return {
        "e2e_events": len(ordered),
        "e2e_rate_per_s": rate,
        "e2e_p50_ms": round(ordered[len(ordered) // 2], 2),
        "e2e_p99_ms": round(ordered[int(len(ordered) * 0.99) - 1], 2),
        "e2e_max_ms": round(ordered[-1], 2),
        "e2e_warmup_events": len(first),
        "e2e_warmup_p99_ms": round(first[int(len(first) * 0.99) - 1], 2),
    }


async def consume(database_url: str, nats_url: str, expected: int, results: Path) -> None:
    """The consuming service of the e2e stage: writes the latencies it saw as JSON."""
    store = EventStore(create_engine(database_url))
    await store.create_schema()
    nc = await connect(nats_url, name="bench-consumer")
    latencies: list[tuple[int, float]] = []
    done = asyncio.Event()

    async def handle(_conn: Any, _event: CloudEvent) -> None:
        return None

    async def committed(event: CloudEvent) -> None:
        latency = (time.monotonic() - float(event.data["sent_at"])) * 1000
        latencies.append((int(event.data["n"]), latency))
        if len(latencies) >= expected:
            done.set()

    runtime = ConsumerRuntime(
        store.engine,
        nc.jetstream(),
        consumer="bench-e2e",
        source_service=LIVE_SERVICE,
        handler=handle,
        after_commit=committed,
    )
    await warm_pool(store.engine)
    freeze_startup_heap()
    task = asyncio.create_task(runtime.run())
    await asyncio.wait_for(done.wait(), timeout=110)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await nc.drain()
    await store.engine.dispose()
    await asyncio.to_thread(results.write_text, json.dumps(latencies))


async def main() -> None:
    # stdout carries exactly one JSON object; logs go to stderr.
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    if len(sys.argv) == 6 and sys.argv[1] == "--consume":
        await consume(sys.argv[2], sys.argv[3], int(sys.argv[4]), Path(sys.argv[5]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="a PostgreSQL server; the benchmark creates and drops its own databases",
    )
    parser.add_argument("--seconds", type=float, default=4.0, help="per write round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--backlog", type=int, default=100_000)
    parser.add_argument("--e2e-rate", type=float, default=500.0)
    parser.add_argument("--e2e-seconds", type=float, default=10.0)
    args = parser.parse_args()
    results: dict[str, Any] = {"benchmark": "eventstore", "concurrency": CONCURRENCY}
    with NatsServer() as nats:
        async with temporary_postgres_database(args.database_url, prefix="bench") as url:
            results.update(await bench_writes(url, args.seconds, args.rounds))
        async with temporary_postgres_database(args.database_url, prefix="bench") as url:
            results.update(await bench_drain(url, nats.url, args.backlog))
        async with (
            temporary_postgres_database(args.database_url, prefix="bench") as producer_url,
            temporary_postgres_database(args.database_url, prefix="bench") as consumer_url,
        ):
            results.update(
                await bench_e2e(
                    producer_url, consumer_url, nats.url, args.e2e_rate, args.e2e_seconds
                )
            )
    print(json.dumps(results))


if __name__ == "__main__":
    # uvloop: the event loop uvicorn runs the services (and so their relay and
    # consumers) on. The floors run on it too, in the same process.
    uvloop.run(main())
