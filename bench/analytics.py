"""Analytics benchmark: rebuilding every read model from history, and event-to-figure latency.

Prints one JSON object. Every rate is measured beside its raw floor in the same run:

- rebuild_events_per_s: 1,000,000 contract events (directory, programs, enrollments,
  pairs, sessions, goals, feedback, check-ins) stored in three producer event stores
  (PostgreSQL), replayed through the kit's ``rebuild`` into all three read models at
  once (shadow tables, swap) — the timed part is the replay only;
- read_floor_per_s: a plain paged read (``EventStore.iterate_all``) of the same
  events, the same way (three stores at once);
- rebuild_cpu_seconds / read_floor_cpu_seconds: this process's CPU time for each
  (not PostgreSQL's): a figure a busy machine disturbs less than a rate;
- e2e_p50_ms / e2e_p99_ms: from a command's HTTP 201 at a producer service (a kit
  service logging sessions, its relay publishing to JetStream) to the analytics KPI
  endpoint reflecting it, at 200 commands/s; analytics and the producer each run in a
  uvicorn process of their own.

    python bench/analytics.py [--database-url postgresql://postgres@127.0.0.1:5432/postgres]
        [--events 1000000] [--e2e-seconds 15] [--rate 200]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib
import json
import logging
import multiprocessing
import os
import random
import signal
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import structlog
import uvicorn
import uvloop
from fastapi import APIRouter, FastAPI

from mentorship_contracts import CloudEvent, registry
from mentorship_contracts import enrollment as en
from mentorship_contracts import sessions as se
from mentorship_kit.app import ServiceSpec, create_app
from mentorship_kit.auth import issue_dev_token
from mentorship_kit.context import ContextDep
from mentorship_kit.db import create_engine
from mentorship_kit.eventstore import (
    EventMetadata,
    EventStore,
    NewEvent,
    RecordedEvent,
    kit_metadata,
)
from mentorship_kit.messaging import connect, ensure_stream, source_for, to_message
from mentorship_kit.projection import rebuild
from mentorship_kit.settings import DEFAULT_DEV_SECRET, ServiceSettings
from mentorship_kit.testing import NatsServer, free_port, temporary_postgres_database
from mentorship_kit.testing.postgres import asyncpg_dsn

# This script is called analytics.py, and its folder comes first on sys.path: it would
# shadow the analytics package. Drop the folder, then import the package.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.modules.pop("analytics", None)
_projections = importlib.import_module("analytics.adapters.projections")
_tables = importlib.import_module("analytics.adapters.tables")

SOURCES = ("enrollment", "matching", "sessions")
TODAY = datetime.now(UTC).date()
ADMIN = {"Authorization": f"Bearer {issue_dev_token(DEFAULT_DEV_SECRET, role='admin')}"}
LOAD_BATCH = 5000
# The service's default ANALYTICS_REBUILD_BATCH_SIZE.
REBUILD_BATCH = 20_000

# -- a synthetic history -------------------------------------------------------------


@dataclass
class History:
    """Events per producing service: (stream type, stream id, event type, data)."""

    events: dict[str, list[tuple[str, str, str, dict[str, Any]]]] = field(
        default_factory=lambda: {source: [] for source in SOURCES}
    )

    def add(
        self, service: str, aggregate: str, key: str, event_type: str, data: dict[str, Any]
    ) -> None:
        self.events[service].append((aggregate, f"{aggregate}-{key}", event_type, data))

    def count(self) -> int:
        return sum(len(events) for events in self.events.values())


def _day(rng: random.Random, within: int = 730) -> str:
    return (TODAY - timedelta(days=rng.randint(0, within))).isoformat()


def _record(rng: random.Random, n: int) -> dict[str, Any]:
    return {
        "email": f"e{n}@example.com",
        "given_name": "G",
        "family_name": "F",
        "department": f"dept-{n % 40}",
        "title": None,
        "job_level": rng.randint(1, 8),
        "manager_id": None,
        "location": None,
        "timezone": None,
        "languages": [],
        "hired_on": _day(rng, 3000),
        "user_name": None,
        "external_id": None,
        "employee_number": None,
        "email_type": None,
    }


def _settings(name: str) -> dict[str, Any]:
    return en.ProgramSettings(
        name=name,
        objective="benchmark",
        formats=["one_to_one"],
        tracks=["x"],
        starts_on=TODAY - timedelta(days=730),
        ends_on=None,
        cadence_days=14,
        mentor_capacity=3,
        approval="auto",
    ).model_dump(mode="json")


@dataclass(frozen=True)
class Scale:
    employees: int
    programs: int
    enrollments: int
    pairs: int

    @classmethod
    def of(cls, total: int) -> Scale:
        return cls(
            employees=max(100, total // 50),
            programs=max(5, total // 5000),
            enrollments=total // 25,
            pairs=max(10, total // 33),
        )


def _directory(history: History, rng: random.Random, scale: Scale) -> None:
    add = history.add
    for n in range(scale.employees):
        eid = f"e{n}"
        add(
            "enrollment",
            "employee",
            eid,
            "EmployeeProvisioned",
            {"employee_id": eid, "record": _record(rng, n)},
        )
        if rng.random() < 0.2:
            add(
                "enrollment",
                "employee",
                eid,
                "EmployeeUpdated",
                {"employee_id": eid, "record": _record(rng, n), "changed": ["job_level"]},
            )
        if rng.random() < 0.1:
            add(
                "enrollment",
                "employee",
                eid,
                "EmployeeDeparted",
                {
                    "employee_id": eid,
                    "left_on": _day(rng),
                    "reason": "voluntary",
                    "deprovisioned": False,
                },
            )
    for p in range(scale.programs):
        add(
            "enrollment",
            "program",
            f"p{p}",
            "ProgramCreated",
            {"program_id": f"p{p}", "settings": _settings(f"p{p}")},
        )
        add(
            "enrollment",
            "program",
            f"p{p}",
            "ProgramOpened",
            {"program_id": f"p{p}", "opened_on": _day(rng)},
        )
    for n in range(scale.enrollments):
        ids = {
            "enrollment_id": f"n{n}",
            "program_id": f"p{n % scale.programs}",
            "employee_id": f"e{rng.randrange(scale.employees)}",
            "role": "mentee" if n % 4 else "mentor",
        }
        add(
            "enrollment",
            "enrollment",
            f"n{n}",
            "ApplicationSubmitted",
            {**ids, "profile": {}, "submitted_on": _day(rng)},
        )
        if rng.random() < 0.9:
            add(
                "enrollment",
                "enrollment",
                f"n{n}",
                "ParticipantEnrolled",
                {**ids, "profile": {}, "enrolled_on": _day(rng)},
            )


def _pairs(history: History, rng: random.Random, scale: Scale) -> None:
    for n in range(scale.pairs):
        ids = {
            "pair_id": f"q{n}",
            "program_id": f"p{n % scale.programs}",
            "mentor_id": f"e{rng.randrange(scale.employees)}",
            "mentee_id": f"e{rng.randrange(scale.employees)}",
        }
        history.add(
            "matching",
            "pair",
            f"q{n}",
            "PairProposed",
            {
                **ids,
                "run_id": None,
                "format": "one_to_one",
                "group_id": None,
                "score": 0.5,
                "explanation": [],
                "algorithm_version": "b",
                "proposed_on": _day(rng),
            },
        )
        history.add(
            "matching",
            "pair",
            f"q{n}",
            "PairAccepted",
            {**ids, "side": "mentor", "accepted_by": ids["mentor_id"]},
        )
        history.add(
            "matching",
            "pair",
            f"q{n}",
            "PairFormed",
            {**ids, "format": "one_to_one", "group_id": None, "formed_on": _day(rng)},
        )
        if rng.random() < 0.4:
            history.add(
                "matching",
                "pair",
                f"q{n}",
                "PairEnded",
                {**ids, "reason": "completed", "ended_by": None, "ended_on": _day(rng)},
            )


def _activity(history: History, rng: random.Random, scale: Scale, total: int) -> None:
    """Sessions (some planned first), feedback, goals and check-ins up to ``total`` events."""
    add = history.add
    goals: list[int] = []
    n = 0
    while history.count() < total:
        n += 1
        pair = rng.randrange(scale.pairs)
        base = {"pair_id": f"q{pair}", "program_id": f"p{pair % scale.programs}"}
        roll = rng.random()
        if roll < 0.5:
            add(
                "sessions",
                "session",
                f"s{n}",
                "SessionLogged",
                {
                    "session_id": f"s{n}",
                    **base,
                    "held_on": _day(rng),
                    "duration_minutes": rng.choice([30, 45, 60]),
                    "mode": None,
                    "topic_count": 1,
                },
            )
        elif roll < 0.6 and history.count() <= total - 2:  # a session planned, then held
            session = {"session_id": f"s{n}", **base}
            add(
                "sessions",
                "session",
                f"s{n}",
                "SessionScheduled",
                {
                    **session,
                    "scheduled_for": f"{_day(rng)}T10:00:00Z",
                    "expected_minutes": 45,
                    "mode": "video",
                },
            )
            add(
                "sessions",
                "session",
                f"s{n}",
                "SessionLogged",
                {
                    **session,
                    "held_on": _day(rng),
                    "duration_minutes": 45,
                    "mode": "video",
                    "topic_count": 2,
                },
            )
        elif roll < 0.85:
            add(
                "sessions",
                "feedback",
                f"f{n}",
                "FeedbackSubmitted",
                {
                    "feedback_id": f"f{n}",
                    **base,
                    "respondent_id": "e1",
                    "respondent_role": "mentee",
                    "kind": "session",
                    "rating": rng.randint(1, 5),
                    "nps": rng.randint(0, 10),
                    "session_id": None,
                    "submitted_on": _day(rng),
                },
            )
        elif roll < 0.93:
            goals.append(n)
            add(
                "sessions",
                "goal",
                f"g{n}",
                "GoalSet",
                {
                    "goal_id": f"g{n}",
                    **base,
                    "mentee_id": "e1",
                    "target_date": None,
                    "milestone_count": 0,
                    "set_on": _day(rng),
                },
            )
        elif roll < 0.97 and goals:
            goal = goals.pop()
            add(
                "sessions",
                "goal",
                f"g{goal}",
                "GoalAchieved",
                {"goal_id": f"g{goal}", **base, "achieved_on": _day(rng)},
            )
        else:
            add(
                "sessions",
                "feedback",
                f"c{n}",
                "CheckInCompleted",
                {
                    "feedback_id": f"c{n}",
                    **base,
                    "respondent_id": "e1",
                    "respondent_role": "mentee",
                    "relationship_quality": 4,
                    "nps": 8,
                    "completed_on": _day(rng),
                },
            )


def synthetic_history(total: int, seed: int = 7) -> History:
    """``total`` events in realistic proportions (sessions and feedback dominate)."""
    rng = random.Random(seed)
    history = History()
    scale = Scale.of(total)
    _directory(history, rng, scale)
    _pairs(history, rng, scale)
    _activity(history, rng, scale, total)
    return history


def _check_contracts(history: History) -> None:
    """A sample of every event type parses as its contract (the workload is valid)."""
    seen: set[str] = set()
    for events in history.events.values():
        for _, _, event_type, data in events:
            if event_type not in seen:
                seen.add(event_type)
                registry().parse(event_type, 1, data)


async def load_store(
    url: str, events: Sequence[tuple[str, str, str, dict[str, Any]]]
) -> EventStore:
    """Append the events to a producer event store, many streams per transaction."""
    store = EventStore(create_engine(url), metadata=kit_metadata())
    await store.create_schema()
    versions: dict[str, int] = {}
    for start in range(0, len(events), LOAD_BATCH):
        streams: dict[str, list[NewEvent]] = {}
        base: dict[str, int] = {}
        for stream_type, stream_id, event_type, data in events[start : start + LOAD_BATCH]:
            if stream_id not in streams:
                streams[stream_id] = []
                base[stream_id] = versions.get(stream_id, 0)
            streams[stream_id].append(NewEvent(stream_type, stream_id, event_type, data))
            versions[stream_id] = versions.get(stream_id, 0) + 1
        async with store.transaction() as conn:
            await store.append_many(conn, [(batch, base[sid]) for sid, batch in streams.items()])
    return store


# -- rebuild and floor ---------------------------------------------------------------


# The events are read back with one plain keyset-paged query per page, straight through
# the driver, the next page fetched while the current one is applied. No writer runs
# while the benchmark reads, so the store's commit-safe horizon has nothing to hold back
# and plain (tx_id, position) order is its global order.
_PAGE_SQL = """
SELECT tx_id, position, event_id::text AS event_id, stream_type, stream_id,
       stream_version, event_type, schema_version, data::text AS data, recorded_at
FROM events WHERE (tx_id, position) > ($1, $2)
ORDER BY tx_id, position LIMIT $3
"""


async def paged_rows(url: str) -> AsyncIterator[list[Any]]:
    """Every stored event row, page by page, the next page requested ahead."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        pending = asyncio.ensure_future(conn.fetch(_PAGE_SQL, -1, -1, REBUILD_BATCH))
        while True:
            rows = await pending
            if len(rows) == REBUILD_BATCH:
                last = rows[-1]
                pending = asyncio.ensure_future(
                    conn.fetch(_PAGE_SQL, last["tx_id"], last["position"], REBUILD_BATCH)
                )
            if rows:
                yield rows
            if len(rows) < REBUILD_BATCH:
                return
    finally:
        await conn.close()


async def replay(url: str, service: str) -> AsyncIterator[CloudEvent]:
    """The stored events as the CloudEvents the relay publishes, built as the kit builds
    its own store's events (``to_cloudevent``): trusted, the columns fix the types."""
    source = source_for(service)
    types = {c.event_type(): c.cloudevents_type() for c in registry().all()}
    async for rows in paged_rows(url):
        for row in rows:
            yield CloudEvent.trusted(
                id=row["event_id"],
                source=source,
                type=types[row["event_type"]],
                subject=row["stream_id"],
                time=row["recorded_at"],
                data=orjson.loads(row["data"]),
                eventtype=row["event_type"],
                schemaversion=row["schema_version"],
                streamtype=row["stream_type"],
                streamversion=row["stream_version"],
            )


async def read_floor(urls: dict[str, str]) -> int:
    """The same pages, the same way, each event's data decoded and nothing else."""

    async def read(url: str) -> int:
        count = 0
        async for rows in paged_rows(url):
            for row in rows:
                orjson.loads(row["data"])
            count += len(rows)
        return count

    return sum(await asyncio.gather(*(read(url) for url in urls.values())))


async def rebuild_all(urls: dict[str, str], analytics_url: str) -> int:
    """Every read model rebuilt from its source at once, through the kit's rebuild."""
    engine = create_engine(analytics_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_tables.metadata.create_all)
        results = await asyncio.gather(
            *(
                rebuild(
                    projection,
                    engine,
                    replay(urls[projection.source], projection.source),
                    batch_size=REBUILD_BATCH,
                )
                for projection in _projections.all_projections()
            )
        )
    finally:
        await engine.dispose()
    return sum(result.events for result in results)


async def bench_rebuild(server_url: str, total: int) -> dict[str, float]:
    history = synthetic_history(total)
    _check_contracts(history)
    generated = history.count()
    async with contextlib.AsyncExitStack() as stack:
        urls: dict[str, str] = {}
        for source in SOURCES:
            urls[source] = await stack.enter_async_context(
                temporary_postgres_database(server_url, prefix=f"bench_{source}")
            )
            store = await load_store(urls[source], history.events[source])
            await store.engine.dispose()
        del history
        # What is alive now lives until the end: keep the collector from re-scanning it.
        gc.collect()
        gc.freeze()
        analytics_url = await stack.enter_async_context(
            temporary_postgres_database(server_url, prefix="bench_analytics")
        )
        started, cpu = time.perf_counter(), time.process_time()
        read = await read_floor(urls)
        floor_seconds = time.perf_counter() - started
        floor_cpu = time.process_time() - cpu
        started, cpu = time.perf_counter(), time.process_time()
        applied = await rebuild_all(urls, analytics_url)
        rebuild_seconds = time.perf_counter() - started
        rebuild_cpu = time.process_time() - cpu
    assert read == applied == generated, (read, applied, generated)  # noqa: S101 - the bench must measure what it claims
    return {
        "events": applied,
        "rebuild_seconds": round(rebuild_seconds, 2),
        "rebuild_events_per_s": round(applied / rebuild_seconds),
        "read_floor_per_s": round(read / floor_seconds),
        # This process's CPU time (PostgreSQL's is not in it): less sensitive than rates
        # to what else the machine runs.
        "rebuild_cpu_seconds": round(rebuild_cpu, 2),
        "read_floor_cpu_seconds": round(floor_cpu, 2),
    }


# -- event to figure -----------------------------------------------------------------

PROGRAM = "bench-program"
PAIR = "bench-pair"


def producer_router() -> APIRouter:
    """The producer's one command: log a held session (HTTP 201 after the commit)."""
    router = APIRouter()

    @router.post("/v1/pairs/{pair_id}/sessions", status_code=201)
    async def log_session(pair_id: str, session_id: str, context: ContextDep) -> dict[str, str]:
        """``session_id`` comes from the client: a retried command finds its stream
        written (409) instead of logging the session twice."""
        event = se.SessionLogged(
            session_id=session_id,
            pair_id=pair_id,
            program_id=PROGRAM,
            held_on=TODAY,
            duration_minutes=45,
            topic_count=1,
        )
        async with context.store.transaction() as conn:
            await context.store.append(
                conn, [NewEvent.from_contract(f"session-{session_id}", event)], expected_version=0
            )
        return {"session_id": session_id}

    return router


def serve_producer(database_url: str, nats_url: str, port: int) -> None:
    """The producer process: a kit service named like the sessions service."""
    spec = ServiceSpec(
        name="sessions",
        title="bench producer",
        version="0.0.1",
        metadata=kit_metadata(),
        routers=[producer_router()],
    )
    app: FastAPI = create_app(
        spec,
        ServiceSettings(
            dev_mode=True, database_url=database_url, nats_url=nats_url, log_level="WARNING"
        ),
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


@contextlib.asynccontextmanager
async def analytics_process(database_url: str, nats_url: str, port: int) -> AsyncIterator[str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "NATS_URL": nats_url,
        "DEV_MODE": "true",
        "LOG_LEVEL": "WARNING",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "uvicorn", "analytics.main:create_app", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level", "warning",
        env=env,
    )  # fmt: skip
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), timeout=30)


async def _until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 60) -> None:  # noqa: ASYNC109 - a polling deadline
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            msg = f"{what}: not within {timeout}s"
            raise TimeoutError(msg)
        await asyncio.sleep(0.05)


async def _ready(http: httpx.AsyncClient, url: str) -> bool:
    try:
        return (await http.get(f"{url}/readyz")).status_code == 200
    except httpx.TransportError:
        return False


async def measure_latency(
    producer: str, analytics: str, seconds: float, rate: float, pause: float
) -> list[float]:
    """Commands sent on a fixed schedule at ``rate`` (open loop: a slow answer does not
    delay the next command); one poller reads the KPI every ``pause`` seconds.

    The KPI counts sessions, not which ones, so acknowledgements are matched to counts
    in order: the k-th command acknowledged is taken as reflected by the first KPI
    answer, received after that acknowledgement, that counts at least k sessions.
    (Commands commit in about the order they are acknowledged; a reordering within a
    few milliseconds shifts a latency by as much.)
    """
    total = int(seconds * rate)
    acknowledged: list[float] = []
    latencies: list[float] = []
    async with (
        # Idle connections are dropped before uvicorn's 5-second keep-alive ends them.
        httpx.AsyncClient(
            timeout=10, limits=httpx.Limits(max_connections=200, keepalive_expiry=2)
        ) as sender,
        httpx.AsyncClient(timeout=10) as reader,
    ):
        start = time.perf_counter()

        async def send(k: int) -> None:
            delay = start + k / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            url = f"{producer}/v1/pairs/{PAIR}/sessions?session_id={uuid.uuid4().hex}"
            for attempt in range(3):
                try:
                    answer = await sender.post(url, headers=ADMIN)
                except httpx.TransportError:
                    continue  # the connection went away; the command is retried as is
                # 409 on a retry: the first attempt was committed after all.
                if answer.status_code == 201 or (attempt and answer.status_code == 409):
                    acknowledged.append(time.perf_counter())
                    return
                break
            msg = f"command {k} failed"
            raise RuntimeError(msg)

        async def send_all() -> None:
            await asyncio.gather(*(send(k) for k in range(total)))

        async def read_kpis() -> None:
            while len(latencies) < total:
                answer = await reader.get(f"{analytics}/v1/programs/{PROGRAM}/kpis", headers=ADMIN)
                received = time.perf_counter()
                held = answer.json()["sessions"]["held"] if answer.status_code == 200 else 0
                while len(latencies) < min(held, len(acknowledged)):
                    latencies.append(max(0.0, received - acknowledged[len(latencies)]))
                await asyncio.sleep(pause)

        await asyncio.gather(send_all(), read_kpis())
    return latencies


async def bench_e2e(server_url: str, seconds: float, rate: float, poll: float) -> dict[str, float]:
    async with (
        temporary_postgres_database(server_url, prefix="bench_producer") as producer_db,
        temporary_postgres_database(server_url, prefix="bench_analytics_e2e") as analytics_db,
    ):
        nats = NatsServer(store_dir=Path(f"/tmp/bench-analytics-nats-{uuid.uuid4().hex[:8]}"))  # noqa: S108 - a scratch folder
        nats.start()
        producer_port = free_port()
        context = multiprocessing.get_context("spawn")
        producer = context.Process(
            target=serve_producer, args=(producer_db, nats.url, producer_port)
        )
        producer.start()
        try:
            nc = await connect(nats.url, name="bench")
            js = nc.jetstream()
            await ensure_stream(js, "enrollment")
            program = en.ProgramCreated(
                program_id=PROGRAM, settings=en.ProgramSettings.model_validate(_settings(PROGRAM))
            )
            message = to_message(
                _recorded(f"program-{PROGRAM}", program.event_type(), program.to_data(), "program"),
                "enrollment",
            )
            await js.publish(message.subject, message.payload, headers=message.headers)
            await nc.close()
            async with analytics_process(analytics_db, nats.url, free_port()) as analytics:
                producer_url = f"http://127.0.0.1:{producer_port}"
                async with httpx.AsyncClient(timeout=5) as http:
                    await _until(lambda: _ready(http, producer_url), "producer ready")
                    await _until(lambda: _ready(http, analytics), "analytics ready")

                    async def program_known() -> bool:
                        answer = await http.get(
                            f"{analytics}/v1/programs/{PROGRAM}/kpis", headers=ADMIN
                        )
                        return answer.status_code == 200

                    await _until(program_known, "program applied")
                    # Warm-up: the first commands pay for connections and caches.
                    await measure_latency(producer_url, analytics, 1, rate, poll)
                latencies = await measure_latency(producer_url, analytics, seconds, rate, poll)
        finally:
            producer.terminate()
            producer.join(timeout=30)
            nats.close()
    ordered = sorted(latencies)
    return {
        "e2e_commands": len(ordered),
        "e2e_p50_ms": round(statistics.median(ordered) * 1000, 1),
        "e2e_p99_ms": round(ordered[int(len(ordered) * 0.99) - 1] * 1000, 1),
        "e2e_max_ms": round(ordered[-1] * 1000, 1),
    }


def _recorded(
    stream_id: str, event_type: str, data: dict[str, Any], stream_type: str
) -> RecordedEvent:
    return RecordedEvent(
        position=0, tx_id=0, event_id=uuid.uuid4(), stream_type=stream_type, stream_id=stream_id,
        stream_version=1, event_type=event_type, schema_version=1, data=data,
        metadata=EventMetadata(), recorded_at=datetime.now(UTC),
    )  # fmt: skip


def main(argv: Iterator[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--e2e-seconds", type=float, default=15.0)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--poll-ms", type=float, default=10.0, help="pause between two KPI reads")
    parser.add_argument("--skip-e2e", action="store_true")
    args = parser.parse_args(list(argv) if argv is not None else None)
    # stdout carries the JSON answer only; logs (warnings and worse) go to stderr.
    structlog.configure(
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
    )

    async def run() -> dict[str, float]:
        # The machine is shared: its load says how much of it the figures had.
        result: dict[str, float] = {"load_average_1m_at_start": round(os.getloadavg()[0], 2)}
        result.update(await bench_rebuild(args.database_url, args.events))
        if not args.skip_e2e:
            result.update(
                await bench_e2e(args.database_url, args.e2e_seconds, args.rate, args.poll_ms / 1000)
            )
        result["load_average_1m_at_end"] = round(os.getloadavg()[0], 2)
        return result

    # uvloop: the event loop uvicorn runs the service on.
    print(json.dumps(uvloop.run(run())))


if __name__ == "__main__":
    main()
