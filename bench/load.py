"""Load benchmark: a mixed, realistic workload on the four services at a fixed rate.

The four services run as their own uvicorn processes, each on a PostgreSQL database of
its own (created on ``--database-url`` and dropped afterwards), with a nats-server
started here on a free loopback port. Everything is driven through the public APIs, as
the HRIS, the portals and the program team would: a program is designed and opened, the
directory imported in bulk, mentors and mentees apply, a match run forms the pairs.

Then ``--rate`` requests per second for ``--seconds`` (after ``--warmup`` seconds not
counted), **open loop**: request k is due at start + k / rate and is sent then whatever
the answers before it took, so a slow service builds a queue and the latencies (taken
from the due time) include it. The mix (weights in MIX):

- HRIS directory updates: ``PUT /v1/employees/{id}`` and SCIM ``PATCH /scim/v2/Users/{id}``;
- applications: ``POST /v1/programs/{id}/enrollments`` by fresh employees (auto approval);
- sessions logged by a pair's member: ``POST /v1/pairs/{id}/sessions``;
- feedback: ``POST /v1/pairs/{id}/feedback``, a member rating a session logged earlier;
- analytics reads: ``GET /v1/programs/{id}/kpis`` and ``/monthly``.

Prints one JSON object: the offered and achieved requests/s, p50/p99 per endpoint,
counts by status class and the 5xx count; ``reconciliation`` once the consumers settled
(polled with a deadline): events in every service's store = published to JetStream =
seen by every durable consumer of the stream (analytics, webhooks, matching, sessions),
stream by stream, with no dead letter, and the sessions held counted by analytics =
sessions logged; ``floor``: plain asyncpg INSERT + COMMIT and plain JetStream publishes
measured in the same run (before and after the load) so the figures can be read against
what the machine gave; the 1-minute load average and each service's CPU use.

Target: no 5xx and no lost event at 300 requests/s.

    python bench/load.py [--seconds 60] [--rate 300] [--database-url postgresql://...]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import math
import operator
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import asyncpg
import orjson
import uvloop
from _harness import (
    ConnectionPool,
    add_database_argument,
    closed_loop,
    cpu_seconds,
    load_average,
    logs_to_stderr,
    machine_cpu,
    percentile,
    service_pid,
    start_service,
    stop_service,
    token,
)
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from sqlalchemy.engine import make_url

from mentorship_kit.eventstore import EventMetadata, RecordedEvent
from mentorship_kit.messaging import connect, stream_name, subject_for
from mentorship_kit.testing import (
    NatsServer,
    ServiceProcess,
    free_port,
    temporary_postgres_database,
    wait_until,
)
from mentorship_kit.testing.postgres import asyncpg_dsn

SERVICES: Final = ("enrollment", "matching", "sessions", "analytics")
SOURCES: Final = ("enrollment", "matching", "sessions")
# Share of the requests per endpoint (they add up to 100).
MIX: Final = {
    "directory_put": 12,
    "scim_patch": 5,
    "apply": 10,
    "log_session": 30,
    "feedback": 18,
    "kpis": 17,
    "monthly": 8,
}
ROUTES: Final = {
    "directory_put": "PUT /v1/employees/{employee_id}",
    "scim_patch": "PATCH /scim/v2/Users/{employee_id}",
    "apply": "POST /v1/programs/{program_id}/enrollments",
    "log_session": "POST /v1/pairs/{pair_id}/sessions",
    "feedback": "POST /v1/pairs/{pair_id}/feedback",
    "kpis": "GET /v1/programs/{program_id}/kpis",
    "monthly": "GET /v1/programs/{program_id}/monthly",
}
DEPARTMENTS: Final = ("Engineering", "Sales", "Finance", "Operations", "Legal")
TITLES: Final = ("Engineer", "Senior Engineer", "Analyst", "Manager", "Consultant")
SKILLS: Final = ("python", "leadership", "negotiation", "kubernetes", "finance", "design")
REQUEST_TIMEOUT_S: Final = 30.0
# Connections per service at most; a request beyond waits (inside its measured latency).
CONNECTIONS_PER_SERVICE: Final = 128
SETUP_CONCURRENCY: Final = 16
FLOOR_CONCURRENCY: Final = 16
FLOOR_PUBLISHES_IN_FLIGHT: Final = 64
ADMIN: Final = token("admin")
HRIS: Final = token("hris")
MANAGER: Final = token("program_manager")
TODAY: Final = datetime.now(UTC).date()


@functools.cache
def participant(employee_id: str) -> str:
    return token("participant", sub=employee_id)


def employee_id(index: int) -> str:
    return f"emp-{index:06d}"


def employee_record(index: int, *, title: str = "Engineer") -> dict[str, Any]:
    return {
        "email": f"employee{index}@example.com",
        "given_name": f"Given{index}",
        "family_name": f"Family{index}",
        "department": DEPARTMENTS[index % len(DEPARTMENTS)],
        "title": title,
        "job_level": 1 + index % 8,
        "manager_id": employee_id(index // 10),
        "location": "Lyon",
        "timezone": "Europe/Paris",
        "languages": ["en", "fr"],
        "hired_on": (TODAY - timedelta(days=200 + index % 3000)).isoformat(),
    }


# -- the system under test -------------------------------------------------------------


@dataclass
class System:
    services: dict[str, ServiceProcess]
    database_urls: dict[str, str]
    nats_url: str
    nats_pid: int
    pools: dict[str, ConnectionPool] = field(default_factory=dict)

    def pool(self, service: str) -> ConnectionPool:
        if service not in self.pools:
            self.pools[service] = ConnectionPool(
                self.services[service].port, CONNECTIONS_PER_SERVICE
            )
        return self.pools[service]

    async def call(
        self,
        service: str,
        method: str,
        path: str,
        *,
        bearer: str,
        body: Any = None,
        content_type: str = "application/json",
        expect: tuple[int, ...] = (200, 201),
    ) -> Any:
        """One setup call: the answer's JSON, or RuntimeError naming what went wrong."""
        headers = {"Idempotency-Key": uuid.uuid4().hex} if method == "POST" else None
        status, answer = await self.pool(service).request(
            method, path, token=bearer, content_type=content_type, headers=headers,
            body=None if body is None else orjson.dumps(body),
        )  # fmt: skip
        if status not in expect:
            msg = f"{method} {path} on {service} answered {status}: {answer[:500]!r}"
            raise RuntimeError(msg)
        return orjson.loads(answer) if answer else None

    async def close(self) -> None:
        for pool in self.pools.values():
            await pool.close()


@contextlib.asynccontextmanager
async def running_system(server_url: str, log_dir: Path) -> AsyncIterator[System]:
    """NATS, a database per service and the four services; all gone afterwards."""
    async with contextlib.AsyncExitStack() as stack:
        nats_server = stack.enter_context(NatsServer(store_dir=log_dir / "nats"))
        urls = {
            name: await stack.enter_async_context(
                temporary_postgres_database(server_url, prefix=f"bench_load_{name}")
            )
            for name in SERVICES
        }
        ports = {name: free_port() for name in SERVICES}
        # Analytics catches up from the producers' feeds when a stream was trimmed.
        sources = ",".join(f"{name}=http://127.0.0.1:{ports[name]}" for name in SOURCES)
        started = await asyncio.gather(
            *(
                start_service(
                    name,
                    database_url=urls[name],
                    nats_url=nats_server.url,
                    log_path=log_dir / f"{name}.log",
                    port=ports[name],
                    env={"ANALYTICS_SOURCE_URLS": sources} if name == "analytics" else None,
                )
                for name in SERVICES
            ),
            return_exceptions=True,
        )
        services = {
            name: service
            for name, service in zip(SERVICES, started, strict=True)
            if isinstance(service, ServiceProcess)
        }
        for service in services.values():
            stack.push_async_callback(stop_service, service)
        for failure in started:
            if isinstance(failure, BaseException):
                raise failure
        assert nats_server.process is not None  # noqa: S101 - started by the context
        system = System(services, urls, nats_server.url, nats_server.process.pid)
        stack.push_async_callback(system.close)
        yield system


# -- setup through the APIs --------------------------------------------------------------


@dataclass
class Population:
    program_id: str
    employees: int
    # Employees who have not applied yet, in the order they will.
    fresh: Iterator[int]
    pairs: list[tuple[str, str, str]]  # (pair_id, mentor_id, mentee_id)


async def _in_parallel(calls: list[Callable[[], Any]]) -> None:
    pending = iter(calls)

    async def worker() -> None:
        for call in pending:
            await call()

    await asyncio.gather(*(worker() for _ in range(SETUP_CONCURRENCY)))


async def _paged(system: System, service: str, path: str, bearer: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = f"limit=500&cursor={cursor}" if cursor else "limit=500"
        page = await system.call(
            service, "GET", f"{path}{'&' if '?' in path else '?'}{query}", bearer=bearer
        )
        items += page["items"]
        cursor = page.get("next_cursor")
        if not cursor or not page["items"]:
            return items


def _profile(rng: random.Random, role: str) -> dict[str, Any]:
    skills = rng.sample(SKILLS, 2)
    if role == "mentor":
        return {"skills_offered": skills, "capacity": 2, "languages": ["en"],
                "timezone": "Europe/Paris"}  # fmt: skip
    return {"skills_sought": skills, "goals": ["grow into a lead role"], "languages": ["en"],
            "timezone": "Europe/Paris"}  # fmt: skip


async def populate(system: System, args: argparse.Namespace, rng: random.Random) -> Population:
    """The program, the directory, the applicants and the pairs, as real clients make them."""
    program = await system.call(
        "enrollment", "POST", "/v1/programs", bearer=ADMIN,
        body={
            "name": "Load bench program",
            "objective": "Retain and grow engineers",
            "formats": ["one_to_one"],
            "tracks": ["leadership"],
            "starts_on": (TODAY - timedelta(days=90)).isoformat(),
            "cadence_days": 14,
            "mentor_capacity": 2,
            "approval": "auto",
        },
    )  # fmt: skip
    program_id = program["id"]
    await system.call("enrollment", "POST", f"/v1/programs/{program_id}/open", bearer=ADMIN)
    for first in range(0, args.employees, 5000):
        rows = [
            {"employee_id": employee_id(i), **employee_record(i)}
            for i in range(first, min(first + 5000, args.employees))
        ]
        await system.call(
            "enrollment", "POST", "/v1/employees/batch", bearer=HRIS, body={"employees": rows}
        )
    mentors = math.ceil(args.pairs / 2)
    applicants = [(i, "mentor") for i in range(mentors)] + [
        (i, "mentee") for i in range(mentors, mentors + args.pairs)
    ]

    def application(index: int, role: str) -> Callable[[], Any]:
        person = employee_id(index)
        return lambda: system.call(
            "enrollment", "POST", f"/v1/programs/{program_id}/enrollments",
            bearer=participant(person),
            body={"employee_id": person, "role": role, "profile": _profile(rng, role)},
        )  # fmt: skip

    await _in_parallel([application(index, role) for index, role in applicants])

    async def pool_complete() -> bool:
        path = f"/v1/programs/{program_id}/pool"
        # 404 until matching has consumed the program's creation.
        known, _ = await system.pool("matching").request("GET", path, token=ADMIN)
        return known == 200 and len(await _paged(system, "matching", path, ADMIN)) >= len(
            applicants
        )

    await wait_until(pool_complete, timeout=120, interval=0.5, message="matching pool")
    await system.call(
        "matching", "POST", f"/v1/programs/{program_id}/match-runs", bearer=MANAGER,
        body={"dry_run": False, "auto_accept": True, "objective": "max_score"},
    )  # fmt: skip
    pairs = [
        (pair["pair_id"], pair["mentor_id"], pair["mentee_id"])
        for pair in await _paged(
            system, "matching", f"/v1/programs/{program_id}/pairs?status=active", MANAGER
        )
    ]
    if not pairs:
        msg = "the match run formed no pair"
        raise RuntimeError(msg)
    unknown = {pair_id for pair_id, _, _ in pairs}

    async def sessions_know_pairs() -> bool:
        for pair_id in list(unknown):
            status, _ = await system.pool("sessions").request(
                "GET", f"/v1/pairs/{pair_id}", token=ADMIN
            )
            if status != 200:
                return False
            unknown.discard(pair_id)
        return True

    await wait_until(sessions_know_pairs, timeout=120, interval=0.5, message="pairs in sessions")
    return Population(program_id, args.employees, iter(range(len(applicants), args.employees)),
                      pairs)  # fmt: skip


# -- the open-loop workload --------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    endpoint: str
    service: str
    method: str
    path: str
    bearer: str
    body: bytes | None = None
    content_type: str = "application/json"
    on_success: Callable[[bytes], None] | None = None


@dataclass
class Results:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    statuses: dict[str, Counter[str]] = field(default_factory=dict)
    lags: list[float] = field(default_factory=list)
    finished_at: float = 0.0

    def record(self, endpoint: str, status: str, latency_ms: float, lag_ms: float) -> None:
        self.latencies.setdefault(endpoint, []).append(latency_ms)
        self.statuses.setdefault(endpoint, Counter())[status] += 1
        self.lags.append(lag_ms)
        self.finished_at = max(self.finished_at, time.perf_counter())

    @property
    def count(self) -> int:
        return sum(len(values) for values in self.latencies.values())


class Workload:
    """Builds each request of the mix from what earlier answers made possible."""

    def __init__(self, population: Population, rng: random.Random) -> None:
        self.population = population
        self.rng = rng
        self.kinds = list(MIX)
        self.weights = list(MIX.values())
        # (pair_id, session_id, member) ratings still to give, fed by logged sessions.
        self.ratings: deque[tuple[str, str, str]] = deque()
        self.sessions_logged = 0
        self.fallbacks = 0

    def next(self) -> Request:
        kind = self.rng.choices(self.kinds, self.weights)[0]
        if kind == "feedback" and not self.ratings:
            # Nothing to rate yet (only at the very start): log a session instead.
            self.fallbacks += 1
            kind = "log_session"
        return getattr(self, f"_{kind}")()

    def _employee(self) -> int:
        return self.rng.randrange(self.population.employees)

    def _directory_put(self) -> Request:
        index = self._employee()
        record = employee_record(index, title=self.rng.choice(TITLES))
        path = f"/v1/employees/{employee_id(index)}"
        return Request("directory_put", "enrollment", "PUT", path, HRIS, orjson.dumps(record))

    def _scim_patch(self) -> Request:
        patch = {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "title", "value": self.rng.choice(TITLES)}],
        }
        return Request("scim_patch", "enrollment", "PATCH",
                       f"/scim/v2/Users/{employee_id(self._employee())}", HRIS,
                       orjson.dumps(patch), "application/scim+json")  # fmt: skip

    def _apply(self) -> Request:
        index = next(self.population.fresh, None)
        if index is None:
            msg = "every employee has applied: raise --employees"
            raise RuntimeError(msg)
        person = employee_id(index)
        role = "mentor" if self.rng.random() < 0.25 else "mentee"
        body = {"employee_id": person, "role": role, "profile": _profile(self.rng, role)}
        return Request("apply", "enrollment", "POST",
                       f"/v1/programs/{self.population.program_id}/enrollments",
                       participant(person), orjson.dumps(body))  # fmt: skip

    def _log_session(self) -> Request:
        pair_id, mentor, mentee = self.rng.choice(self.population.pairs)
        author = self.rng.choice((mentor, mentee))
        body = {
            "status": "held",
            "held_on": (TODAY - timedelta(days=self.rng.randint(0, 20))).isoformat(),
            "duration_minutes": self.rng.choice((30, 45, 60)),
            "mode": "video",
            "topics": self.rng.sample(SKILLS, 2),
            "notes": "Talked through the quarter's goals and a stretch project.",
        }

        def rate_later(answer: bytes) -> None:
            self.sessions_logged += 1
            session_id = orjson.loads(answer)["session_id"]
            for member in (mentor, mentee):
                self.ratings.append((pair_id, session_id, member))

        return Request("log_session", "sessions", "POST", f"/v1/pairs/{pair_id}/sessions",
                       participant(author), orjson.dumps(body), on_success=rate_later)  # fmt: skip

    def _feedback(self) -> Request:
        # Members rate in no particular order, but every logged session gets rated.
        self.ratings.rotate(-self.rng.randrange(len(self.ratings)))
        pair_id, session_id, member = self.ratings.popleft()
        body = {"kind": "session", "session_id": session_id, "rating": self.rng.randint(3, 5),
                "nps": self.rng.randint(6, 10), "comment": "Useful and concrete."}  # fmt: skip
        return Request("feedback", "sessions", "POST", f"/v1/pairs/{pair_id}/feedback",
                       participant(member), orjson.dumps(body))  # fmt: skip

    def _kpis(self) -> Request:
        return Request("kpis", "analytics", "GET",
                       f"/v1/programs/{self.population.program_id}/kpis", MANAGER)  # fmt: skip

    def _monthly(self) -> Request:
        return Request("monthly", "analytics", "GET",
                       f"/v1/programs/{self.population.program_id}/monthly", MANAGER)  # fmt: skip


async def _send(system: System, request: Request, due: float, results: Results) -> None:
    lag_ms = (time.perf_counter() - due) * 1000
    headers = {"Idempotency-Key": uuid.uuid4().hex} if request.method == "POST" else None
    try:
        async with asyncio.timeout(REQUEST_TIMEOUT_S):
            code, answer = await system.pool(request.service).request(
                request.method, request.path, token=request.bearer, body=request.body,
                content_type=request.content_type, headers=headers,
            )  # fmt: skip
        status = str(code)
    except TimeoutError:
        status, answer = "timeout", b""
    except (OSError, asyncio.IncompleteReadError):
        status, answer = "transport_error", b""
    results.record(request.endpoint, status, (time.perf_counter() - due) * 1000, lag_ms)
    if status in {"200", "201"} and request.on_success is not None:
        request.on_success(answer)


async def open_loop(system: System, workload: Workload, rate: float, seconds: float) -> Results:
    """Request k is sent at start + k / rate, whatever happened to the ones before it."""
    results = Results()
    in_flight: set[asyncio.Task[None]] = set()
    start = time.perf_counter() + 0.05
    for k in range(int(rate * seconds)):
        due = start + k / rate
        if (delay := due - time.perf_counter()) > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(_send(system, workload.next(), due, results))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    await asyncio.gather(*in_flight)
    results.finished_at -= start
    return results


def summarize(results: Results, rate: float, seconds: float) -> dict[str, Any]:
    classes: Counter[str] = Counter()
    endpoints: dict[str, Any] = {}
    for endpoint, latencies in sorted(results.latencies.items()):
        statuses = results.statuses[endpoint]
        for status, count in statuses.items():
            classes[f"{status[0]}xx" if status.isdigit() else status] += count
        endpoints[endpoint] = {
            "route": ROUTES[endpoint],
            "count": len(latencies),
            "p50_ms": percentile(latencies, 0.50),
            "p99_ms": percentile(latencies, 0.99),
            "max_ms": round(max(latencies), 2),
            "statuses": dict(sorted(statuses.items())),
        }
    everything = [value for values in results.latencies.values() for value in values]
    return {
        "offered_per_s": rate,
        "seconds": seconds,
        "requests": results.count,
        # Answers (of any status) over the time from the first due request to the last answer.
        "achieved_per_s": round(results.count / results.finished_at, 1),
        "p50_ms": percentile(everything, 0.50),
        "p99_ms": percentile(everything, 0.99),
        # How late the client itself sent requests (its own CPU starvation, not the servers').
        "client_send_lag_p99_ms": percentile(results.lags, 0.99),
        "status_classes": dict(sorted(classes.items())),
        "5xx": classes["5xx"],
        # No answer within REQUEST_TIMEOUT_S, or the connection broke.
        "unanswered": classes["timeout"] + classes["transport_error"],
        "endpoints": endpoints,
    }


# -- reconciliation -----------------------------------------------------------------------


def _matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: ``*`` is one token, ``>`` one or more trailing tokens."""
    wanted, tokens = pattern.split("."), subject.split(".")
    for i, part in enumerate(wanted):
        if part == ">":
            return len(tokens) > i
        if i >= len(tokens) or part not in {"*", tokens[i]}:
            return False
    return len(wanted) == len(tokens)


@functools.cache
def _subject(service: str, stream_type: str, event_type: str) -> str:
    """The subject the relay publishes an event on (the kit's own rule)."""
    event = RecordedEvent(
        position=0, tx_id=0, event_id=uuid.uuid4(), stream_type=stream_type, stream_id="-",
        stream_version=1, event_type=event_type, schema_version=1, data={},
        metadata=EventMetadata(), recorded_at=datetime.now(UTC),
    )  # fmt: skip
    return subject_for(event, service)


@dataclass(frozen=True)
class Stream:
    version: int
    subjects: frozenset[str]


class Reconciler:
    """Compares, stream by stream, what each store holds with what each consumer applied."""

    def __init__(self, pools: dict[str, asyncpg.Pool], js: JetStreamContext) -> None:
        self.pools = pools
        self.js = js

    async def _streams(self, service: str) -> dict[str, Stream]:
        rows = await self.pools[service].fetch(
            "SELECT stream_id, stream_type, max(stream_version) AS version,"
            " array_agg(DISTINCT event_type) AS types FROM events GROUP BY stream_id, stream_type"
        )
        return {
            row["stream_id"]: Stream(
                row["version"],
                frozenset(_subject(service, row["stream_type"], t) for t in row["types"]),
            )
            for row in rows
        }

    async def _applied(self) -> dict[str, dict[str, int]]:
        """consumer -> stream id -> last version applied, from every service's database."""
        applied: dict[str, dict[str, int]] = {}
        for pool in self.pools.values():
            for row in await pool.fetch("SELECT consumer, stream_id, stream_version"
                                        " FROM consumer_streams"):  # fmt: skip
                applied.setdefault(row["consumer"], {})[row["stream_id"]] = row["stream_version"]
        return applied

    async def check(self) -> dict[str, Any]:
        stored: dict[str, int] = {}
        published: dict[str, int] = {}
        consumers: dict[str, Any] = {}
        applied = await self._applied()
        lost = 0
        for service in SERVICES:
            streams = await self._streams(service)
            stored[service] = sum(stream.version for stream in streams.values())
            name = stream_name(service)
            try:
                published[service] = (await self.js.stream_info(name)).state.messages
            except Exception:  # noqa: BLE001 - a service that never published has no stream
                published[service] = 0
                continue
            lost += max(0, stored[service] - published[service])
            for info in await self.js.consumers_info(name):
                durable = info.config.durable_name or info.name
                filters = [info.config.filter_subject or f"mentorship.{service}.>"]
                expected = {
                    stream_id: stream.version
                    for stream_id, stream in streams.items()
                    if any(_matches(f, s) for f in filters for s in stream.subjects)
                }
                seen = applied.get(durable, {})
                missing = sum(max(0, v - seen.get(sid, 0)) for sid, v in expected.items())
                lost += missing
                consumers[durable] = {
                    "source": service,
                    "events_expected": sum(expected.values()),
                    "events_seen": sum(min(v, seen.get(sid, 0)) for sid, v in expected.items()),
                    "missing": missing,
                    "pending": info.num_pending,
                    "ack_pending": info.num_ack_pending,
                }
        dead_letters = {
            service: await pool.fetchval("SELECT count(*) FROM dead_letters")
            for service, pool in self.pools.items()
        }
        return {
            "events_stored": stored,
            "events_published": published,
            "consumers": dict(sorted(consumers.items())),
            "dead_letters": dead_letters,
            "lost_events": lost,
        }

    async def settle(self, timeout: float) -> dict[str, Any]:  # noqa: ASYNC109 - a polling deadline
        """Poll until nothing is missing anywhere, or the deadline; the last check."""
        started = time.perf_counter()
        last: dict[str, Any] = {}

        async def settled() -> bool:
            nonlocal last
            last = await self.check()
            return last["lost_events"] == 0 and all(
                c["pending"] == 0 and c["ack_pending"] == 0 for c in last["consumers"].values()
            )

        with contextlib.suppress(TimeoutError):
            await wait_until(settled, timeout=timeout, interval=0.5, message="consumers settled")
        return last | {"settle_seconds": round(time.perf_counter() - started, 1)}


@contextlib.asynccontextmanager
async def reconciler(system: System) -> AsyncIterator[Reconciler]:
    pools = {
        name: await asyncpg.create_pool(asyncpg_dsn(url), min_size=1, max_size=2)
        for name, url in system.database_urls.items()
    }
    client: NatsClient = await connect(system.nats_url, name="bench-load")
    try:
        yield Reconciler(pools, client.jetstream())
    finally:
        await client.close()
        for pool in pools.values():
            await pool.close()


async def analytics_agrees(system: System, population: Population) -> dict[str, Any]:
    """Sessions held as analytics counts them, against the sessions store."""
    kpis = await system.call(
        "analytics", "GET", f"/v1/programs/{population.program_id}/kpis", bearer=MANAGER
    )
    pool = await asyncpg.connect(asyncpg_dsn(system.database_urls["sessions"]))
    try:
        logged = await pool.fetchval(
            "SELECT count(*) FROM events WHERE event_type = 'SessionLogged'"
        )
    finally:
        await pool.close()
    return {
        "sessions_logged_in_store": logged,
        "sessions_held_in_analytics": kpis["sessions"]["held"],
    }


# -- the raw floor --------------------------------------------------------------------------


async def floor(server_url: str, nats_url: str, seconds: float) -> dict[str, float]:
    """Plain asyncpg INSERT + COMMIT of an event-like row (16 connections) and plain
    JetStream publishes (64 in flight), on the same servers as the services."""
    async with temporary_postgres_database(server_url, prefix="bench_load_floor") as url:
        pool = await asyncpg.create_pool(
            asyncpg_dsn(url), min_size=FLOOR_CONCURRENCY, max_size=FLOOR_CONCURRENCY
        )
        try:
            await pool.execute(
                "CREATE TABLE floor_events (position bigserial PRIMARY KEY, event_id uuid"
                " UNIQUE, stream_id text, stream_version int, event_type text, data jsonb,"
                " recorded_at timestamptz DEFAULT now(), UNIQUE (stream_id, stream_version))"
            )
            data = orjson.dumps({"pair_id": "p", "held_on": str(TODAY), "minutes": 45}).decode()

            async def insert() -> bool:
                await pool.execute(
                    "INSERT INTO floor_events (event_id, stream_id, stream_version,"
                    " event_type, data) VALUES ($1, $2, 1, 'SessionLogged', $3::jsonb)",
                    uuid.uuid4(), f"session-{uuid.uuid4()}", data,
                )  # fmt: skip
                return True

            insert_rate, insert_latencies, _ = await closed_loop(
                seconds, [insert] * FLOOR_CONCURRENCY
            )
        finally:
            await pool.close()
    client = await connect(nats_url, name="bench-load-floor")
    try:
        js = client.jetstream()
        await js.add_stream(name="BENCH_FLOOR", subjects=["benchfloor.>"])
        payload = orjson.dumps({"pair_id": "p", "held_on": str(TODAY), "minutes": 45})

        async def publish() -> bool:
            await js.publish("benchfloor.x", payload, headers={"Nats-Msg-Id": uuid.uuid4().hex})
            return True

        publish_rate, _, _ = await closed_loop(seconds, [publish] * FLOOR_PUBLISHES_IN_FLIGHT)
        await js.delete_stream("BENCH_FLOOR")
    finally:
        await client.close()
    return {
        "asyncpg_insert_per_s": round(insert_rate),
        "asyncpg_insert_p99_ms": percentile(insert_latencies, 0.99),
        "nats_publish_per_s": round(publish_rate),
    }


# -- the whole run ---------------------------------------------------------------------------


class CpuMeter:
    """CPU time used so far by each part of the system under test, and by this client.

    PostgreSQL: the server backends of the services' databases (the pools are fixed, so
    the same backends serve the whole run; one that exits takes its time with it).
    """

    def __init__(self, system: System, pool: asyncpg.Pool) -> None:
        self.system = system
        self.pool = pool
        self.databases = [make_url(url).database for url in system.database_urls.values()]

    async def read(self) -> dict[str, float]:
        used = {
            name: cpu_seconds(service_pid(service))
            for name, service in self.system.services.items()
        }
        backends = await self.pool.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = ANY($1::text[])", self.databases
        )
        used["postgres"] = 0.0
        for row in backends:
            with contextlib.suppress(OSError):
                used["postgres"] += cpu_seconds(row["pid"])
        used["nats"] = cpu_seconds(self.system.nats_pid)
        used["client"] = time.process_time()
        return used


def cpu_figures(
    before: dict[str, float], after: dict[str, float], seconds: float, requests: int, rate: float
) -> dict[str, Any]:
    """What the run cost in CPU: cores used on average, CPU ms per request, and the cores
    the offered rate needs at that cost (two is all this machine has)."""
    used = {name: max(0.0, after[name] - before.get(name, 0.0)) for name in after}
    per_request = {name: round(cpu * 1000 / requests, 2) for name, cpu in used.items()}
    total_ms = sum(used.values()) * 1000 / requests
    return {
        "window_seconds": round(seconds, 1),
        "cores": {name: round(cpu / seconds, 2) for name, cpu in used.items()},
        "ms_per_request": per_request | {"total": round(total_ms, 2)},
        "cores_needed_at_offered_rate": round(total_ms * rate / 1000, 2),
    }


class Phases:
    """How long each part of the run took (the setup is most of a short run)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def done(self, phase: str) -> None:
        now = time.perf_counter()
        self.seconds[phase] = round(now - self._last, 1)
        self._last = now


async def bench(args: argparse.Namespace, log_dir: Path) -> dict[str, Any]:
    result: dict[str, Any] = {"load_average_1m": {"start": load_average()}}
    rng = random.Random(args.seed)
    phases = Phases()
    async with running_system(args.database_url, log_dir) as system:
        phases.done("start_services")
        population = await populate(system, args, rng)
        async with reconciler(system) as checker:
            before = await checker.settle(args.settle_timeout)
            if before["lost_events"]:
                msg = f"the setup did not settle: {before}"
                raise RuntimeError(msg)
            result["setup"] = {"employees": args.employees, "pairs": len(population.pairs)}
            phases.done("setup")
            floor_before = await floor(args.database_url, system.nats_url, args.floor_seconds)
            phases.done("floor_before")
            workload = Workload(population, rng)
            await open_loop(system, workload, args.rate, args.warmup)
            phases.done("warmup")
            result["load_average_1m"]["before_load"] = load_average()
            meter = CpuMeter(system, checker.pools["analytics"])
            cpu_before = await meter.read()
            machine_before = machine_cpu()
            started = time.perf_counter()
            results = await open_loop(system, workload, args.rate, args.seconds)
            phases.done("load")
            result["load_average_1m"]["end_of_load"] = load_average()
            result |= summarize(results, args.rate, args.seconds)
            result["feedback_fallbacks"] = workload.fallbacks
            result["reconciliation"] = await checker.settle(args.settle_timeout)
            # CPU from the first request until the consumers settled: all the work the
            # requests caused (relays and consumers included).
            result["cpu"] = cpu_figures(
                cpu_before, await meter.read(), time.perf_counter() - started,
                results.count, args.rate,
            )  # fmt: skip
            machine_busy, machine_total = map(operator.sub, machine_cpu(), machine_before)
            # The whole machine meanwhile: the other tenants' share is what is left.
            result["cpu"]["machine_busy_share"] = round(machine_busy / machine_total, 2)
            result["reconciliation"] |= await analytics_agrees(system, population)
            phases.done("settle")
            floor_after = await floor(args.database_url, system.nats_url, args.floor_seconds)
            phases.done("floor_after")
    phases.done("stop_services")
    result["floor"] = {
        name: round(statistics.mean((floor_before[name], floor_after[name])), 2)
        for name in floor_before
    } | {"before_load": floor_before, "after_load": floor_after}
    result["load_average_1m"]["end"] = load_average()
    result["phase_seconds"] = phases.seconds
    reconciliation = result["reconciliation"]
    result["target"] = {"rate": 300, "5xx": 0, "unanswered": 0, "lost_events": 0}
    result["target_met"] = (
        args.rate >= 300
        and result["5xx"] == 0
        and result["unanswered"] == 0
        and reconciliation["lost_events"] == 0
        and not any(reconciliation["dead_letters"].values())
        and reconciliation["sessions_logged_in_store"]
        == reconciliation["sessions_held_in_analytics"]
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_database_argument(parser)
    parser.add_argument("--seconds", type=float, default=60.0, help="measured load duration")
    parser.add_argument("--rate", type=float, default=300.0, help="requests per second")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured load first")
    parser.add_argument("--pairs", type=int, default=300, help="mentees to pair at setup")
    parser.add_argument("--employees", type=int, default=0,
                        help="directory size (default: enough for every application)")  # fmt: skip
    parser.add_argument("--floor-seconds", type=float, default=5.0)
    parser.add_argument("--settle-timeout", type=float, default=120.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    mentors = math.ceil(args.pairs / 2)
    applications = math.ceil(args.rate * (args.seconds + args.warmup) * MIX["apply"] / 100 * 1.5)
    args.employees = max(args.employees, mentors + args.pairs + applications + 100)
    logs_to_stderr()
    log_dir = Path(tempfile.mkdtemp(prefix="bench-load-"))
    clean = False
    try:
        result = uvloop.run(bench(args, log_dir))
        clean = (
            not (result["5xx"] or result["unanswered"])
            and not (result["reconciliation"]["lost_events"])
        )
    finally:
        # The JetStream store goes; the services' logs stay when something went wrong.
        shutil.rmtree(log_dir / "nats", ignore_errors=True)
        if clean:
            shutil.rmtree(log_dir, ignore_errors=True)
        else:
            print(f"the services' logs: {log_dir}", file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
