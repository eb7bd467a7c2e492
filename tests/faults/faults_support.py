"""What the fault tests share: the four services as processes, a steady command load, and
the checks that nothing committed was lost or counted twice.

The load is a few *lanes*, each a loop of commands against one service (directory
updates on enrollment, blocked pairs on matching, sessions, goals and feedback on
sessions). A lane retries a command that met a fault (connection refused or reset, 503)
with the same body and ``Idempotency-Key`` until it is acknowledged, the way a careful
client would; any other answer fails the test. So at the end the client knows exactly
which commands were acknowledged, and every figure downstream can be compared with it.

Loaded by path from the tests next to it (importlib import mode).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import nats
import nats.errors
from nats.js import JetStreamContext

from mentorship_kit.auth import issue_dev_token
from mentorship_kit.messaging import MSG_ID_HEADER, stream_name
from mentorship_kit.settings import DEFAULT_DEV_SECRET
from mentorship_kit.testing import (
    ServiceProcess,
    free_port,
    stream_messages,
    temporary_postgres_database,
    wait_until,
)
from mentorship_kit.testing.postgres import asyncpg_dsn

SERVICES = ("enrollment", "matching", "sessions", "analytics")
SOURCES = ("enrollment", "matching", "sessions")
READ_MODELS = ("directory", "pairs", "activity")
# Which service's database holds a durable consumer's claims, by the name's first word.
CONSUMER_OWNERS = {
    "matching": "matching",
    "sessions": "sessions",
    "analytics": "analytics",
    "webhooks": "analytics",
}
TODAY = datetime.now(UTC).date()
# How long one command may keep meeting faults before the test gives up on it.
COMMAND_DEADLINE = 120.0
RETRY_INTERVAL = 0.1
TRANSIENT_STATUSES = frozenset({502, 503, 504})

log = logging.getLogger("faults")


def bearer(role: str, sub: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_dev_token(DEFAULT_DEV_SECRET, role=role, sub=sub)}"}


ADMIN = bearer("admin", "fault-admin")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# -- the services ---------------------------------------------------------------------------


def service_env(database_url: str, nats_urls: Iterable[str], **extra: str) -> dict[str, str]:
    """A service process's environment: every NATS server it may use, dev tokens, quiet logs."""
    return {
        "DATABASE_URL": database_url,
        "NATS_URL": ",".join(nats_urls),
        "DEV_MODE": "true",
        "LOG_LEVEL": "WARNING",
        "ANALYTICS_PAUSE_POLL_SECONDS": "0.2",
        **extra,
    }


@dataclass
class Stack:
    """Services as uvicorn processes, each with a database of its own."""

    processes: dict[str, ServiceProcess]
    database_urls: dict[str, str]
    nats_urls: list[str]

    def url(self, service: str) -> str:
        return self.processes[service].url

    async def ready(self, http: httpx.AsyncClient, *services: str) -> None:
        await asyncio.gather(
            *(self.processes[s].ready(http, timeout=120) for s in services or self.processes)
        )


@contextlib.asynccontextmanager
async def running_stack(
    logs: Path,
    postgres_url: str,
    nats_urls: list[str],
    *,
    services: Iterable[str] = SERVICES,
    **extra_env: str,
) -> AsyncIterator[Stack]:
    """Start the services, each with a database of its own on the PostgreSQL server at
    ``postgres_url``; stop them afterwards."""
    async with AsyncExitStack() as stack:
        urls = {
            service: await stack.enter_async_context(
                temporary_postgres_database(postgres_url, prefix=service)
            )
            for service in services
        }
        processes = {
            service: ServiceProcess(
                f"{service}.main:create_app",
                free_port(),
                service_env(urls[service], nats_urls, **extra_env),
                logs / f"{service}.log",
            )
            for service in services
        }
        try:
            for process in processes.values():
                process.start()
            yield Stack(processes, urls, nats_urls)
        finally:
            for process in processes.values():
                process.stop()


# -- the commands ---------------------------------------------------------------------------


class CommandFailedError(AssertionError):
    """A command answered something no fault explains (a 500, a 4xx)."""

    @classmethod
    def of(cls, method: str, url: str, response: httpx.Response) -> CommandFailedError:
        return cls(f"{method} {url} -> {response.status_code}: {response.text[:500]}")


@dataclass
class Faults:
    """What the client met while commands were retried, by kind."""

    seen: Counter[str] = field(default_factory=Counter)
    problems: list[httpx.Response] = field(default_factory=list)

    def total(self) -> int:
        return sum(self.seen.values())


async def command(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    json: object = None,
    headers: Mapping[str, str] = ADMIN,
    faults: Faults | None = None,
    keyed: bool = True,
    deadline: float = COMMAND_DEADLINE,
) -> httpx.Response:
    """Send a command until it is acknowledged (2xx), retrying faults with the same key
    every ``RETRY_INTERVAL`` seconds, for ``deadline`` seconds at most."""
    sent_headers = dict(headers)
    if keyed:
        sent_headers["Idempotency-Key"] = uuid.uuid4().hex
    met = faults or Faults()

    async def acknowledged() -> httpx.Response | None:
        try:
            response = await http.request(method, url, json=json, headers=sent_headers)
        except httpx.TransportError as exc:
            met.seen[type(exc).__name__] += 1
            return None
        if response.is_success:
            return response
        if response.status_code not in TRANSIENT_STATUSES:
            raise CommandFailedError.of(method, url, response)
        met.seen[str(response.status_code)] += 1
        met.problems.append(response)
        return None

    return await wait_until(
        acknowledged, timeout=deadline, interval=RETRY_INTERVAL, message=f"{method} {url}"
    )


async def until_accepted(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    json: object = None,
    headers: Mapping[str, str] = ADMIN,
    waiting: frozenset[int] = frozenset({404, 409, 422}),
    timeout: float = 60.0,  # noqa: ASYNC109 - a polling deadline
) -> httpx.Response:
    """A command that depends on facts another service learns from events: refused with
    one of ``waiting`` until that service has caught up."""
    key = uuid.uuid4().hex
    last: list[httpx.Response] = []

    async def accepted() -> httpx.Response | None:
        response = await http.request(
            method, url, json=json, headers={**headers, "Idempotency-Key": key}
        )
        last[:] = [response]
        if response.is_success:
            return response
        if response.status_code not in waiting:
            raise CommandFailedError.of(method, url, response)
        return None

    try:
        return await wait_until(accepted, timeout=timeout, interval=0.2, message=url)
    except TimeoutError as exc:
        detail = last[0].text[:500] if last else "no answer"
        raise TimeoutError(f"{method} {url} never accepted: {detail}") from exc


# -- the program every load runs in ---------------------------------------------------------


@dataclass(frozen=True)
class Pair:
    pair_id: str
    mentor_id: str
    mentee_id: str

    @property
    def mentee(self) -> dict[str, str]:
        return bearer("participant", self.mentee_id)


def employee(employee_id: str, **changes: object) -> dict[str, object]:
    return {
        "email": f"{employee_id}@example.com",
        "given_name": "Given",
        "family_name": employee_id,
        "department": "Engineering",
        "job_level": 3,
        "languages": ["en"],
        "timezone": "Europe/Paris",
        "hired_on": "2020-01-06",
        **changes,
    }


async def open_program(http: httpx.AsyncClient, stack: Stack, pairs: int) -> tuple[str, list[Pair]]:
    """A program with ``pairs`` active self-directed pairs, known to every service."""
    enrollment = stack.url("enrollment")
    created = await command(
        http,
        "POST",
        f"{enrollment}/v1/programs",
        json={
            "name": "Fault drill",
            "objective": "Survive faults",
            "formats": ["one_to_one", "self_directed"],
            "starts_on": (TODAY - timedelta(days=60)).isoformat(),
            "cadence_days": 14,
            "mentor_capacity": 1,
            "approval": "auto",
        },
    )
    program_id = created.json()["id"]
    await command(http, "POST", f"{enrollment}/v1/programs/{program_id}/open")
    formed = []
    for _ in range(pairs):
        mentor, mentee = unique("mentor"), unique("mentee")
        for person, role in ((mentor, "mentor"), (mentee, "mentee")):
            await command(
                http,
                "PUT",
                f"{enrollment}/v1/employees/{person}",
                json=employee(person),
                keyed=False,
            )
            enrolled = await command(
                http,
                "POST",
                f"{enrollment}/v1/programs/{program_id}/enrollments",
                json={"employee_id": person, "role": role, "profile": {"languages": ["en"]}},
            )
            assert enrolled.json()["status"] == "enrolled", enrolled.text
        matching = stack.url("matching")
        request = await until_accepted(
            http,
            "POST",
            f"{matching}/v1/programs/{program_id}/mentor-requests",
            json={"mentor_ids": [mentor], "mentee_id": mentee},
        )
        accepted = await command(
            http, "POST", f"{matching}/v1/mentor-requests/{request.json()['request_id']}/accept"
        )
        formed.append(Pair(accepted.json()["pair_id"], mentor, mentee))
    sessions = stack.url("sessions")
    for pair in formed:

        async def active(pair: Pair = pair) -> bool:
            answer = await http.get(f"{sessions}/v1/pairs/{pair.pair_id}", headers=pair.mentee)
            return answer.status_code == 200 and answer.json()["status"] == "active"

        await wait_until(active, timeout=60, interval=0.2, message=f"{pair.pair_id} in sessions")
    return program_id, formed


# -- the load -------------------------------------------------------------------------------


@dataclass
class Tally:
    """Commands the services acknowledged, by kind; what the figures must add up to.

    ``directory`` keeps, per employee, every record the directory acknowledged, in order.
    """

    acknowledged: Counter[str] = field(default_factory=Counter)
    faults: Faults = field(default_factory=Faults)
    directory: dict[str, list[dict[str, object]]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.acknowledged.values())


class Load:
    """Steady commands on enrollment, matching and sessions until stopped.

    ``pace`` is the pause between two commands of one lane: it shapes the load (a few
    dozen commands a second in all) and leaves the machine's cores to the services.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        stack: Stack,
        program_id: str,
        pairs: list[Pair],
        *,
        pace: float = 0.05,
    ) -> None:
        self.http, self.stack, self.program_id, self.pairs = http, stack, program_id, pairs
        self.pace = pace
        self.tally = Tally()
        self._stop = asyncio.Event()
        self._lanes: list[asyncio.Task[None]] = []

    def start(self) -> None:
        lanes: list[Callable[[], Awaitable[None]]] = [self._directory, self._directory]
        if "matching" in self.stack.processes:
            lanes.append(self._blocked_pairs)
        if "sessions" in self.stack.processes:
            lanes += [lambda pair=pair: self._sessions(pair) for pair in self.pairs]
        self._lanes = [asyncio.create_task(lane(), name="load-lane") for lane in lanes]

    async def stop(self) -> Tally:
        self._stop.set()
        await asyncio.gather(*self._lanes)
        return self.tally

    async def cancel(self) -> None:
        for lane in self._lanes:
            lane.cancel()
        await asyncio.gather(*self._lanes, return_exceptions=True)

    def check(self) -> None:
        """Raise the error of a lane that failed (a command answered what no fault explains)."""
        for lane in self._lanes:
            if lane.done() and not lane.cancelled() and lane.exception() is not None:
                raise lane.exception()  # type: ignore[misc]

    async def until_more(self, count: int, *, timeout: float = 90.0) -> None:  # noqa: ASYNC109
        """Wait until ``count`` more commands have been acknowledged."""
        target = self.tally.total + count

        def reached() -> bool:
            self.check()
            return self.tally.total >= target

        await wait_until(reached, timeout=timeout, interval=0.05, message=f"{count} more commands")

    async def _send(self, kind: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
        response = await command(self.http, method, url, faults=self.tally.faults, **kwargs)
        self.tally.acknowledged[kind] += 1
        return response

    async def _lane(self, step: Callable[[int], Awaitable[None]]) -> None:
        turn = 0
        while not self._stop.is_set():
            await step(turn)
            turn += 1
            await asyncio.sleep(self.pace)

    async def _directory(self) -> None:
        """Hires, then changes to the people hired (one event each)."""
        url = f"{self.stack.url('enrollment')}/v1/employees"
        hired: list[str] = []

        async def step(turn: int) -> None:
            if turn % 2 == 0 or not hired:
                kind, person = "hire", unique("emp")
                body = employee(person)
                hired.append(person)
            else:
                kind, person = "update", hired[turn % len(hired)]
                body = employee(person, title=f"Title {turn}", job_level=turn % 7)
            # A PUT is idempotent by itself: a retried one that had been stored is unchanged.
            await self._send(kind, "PUT", f"{url}/{person}", json=body, keyed=False)
            self.tally.directory.setdefault(person, []).append(body)

        await self._lane(step)

    async def _blocked_pairs(self) -> None:
        url = f"{self.stack.url('matching')}/v1/programs/{self.program_id}/blocked-pairs"

        async def step(_turn: int) -> None:
            body = {"employee_ids": [unique("x"), unique("y")], "reason": "fault drill"}
            await self._send("block", "POST", url, json=body)

        await self._lane(step)

    async def _sessions(self, pair: Pair) -> None:
        """A held session each turn; feedback on every third, a goal on every fifth."""
        sessions = self.stack.url("sessions")
        pair_url = f"{sessions}/v1/pairs/{pair.pair_id}"

        async def step(turn: int) -> None:
            held = await self._send(
                "session",
                "POST",
                f"{pair_url}/sessions",
                json={"status": "held", "duration_minutes": 30 + turn % 30, "topics": ["drill"]},
                headers=pair.mentee,
            )
            if turn % 3 == 0:
                await self._send(
                    "feedback",
                    "POST",
                    f"{pair_url}/feedback",
                    json={
                        "kind": "session",
                        "rating": 1 + turn % 5,
                        "nps": turn % 11,
                        "session_id": held.json()["session_id"],
                    },
                    headers=pair.mentee,
                )
            if turn % 5 == 0:
                await self._send(
                    "goal", "POST", f"{pair_url}/goals", json={"title": f"Goal {turn}"},
                    headers=pair.mentee,
                )  # fmt: skip

        await self._lane(step)


@contextlib.asynccontextmanager
async def steady_load(load: Load) -> AsyncIterator[Load]:
    load.start()
    try:
        yield load
    finally:
        await load.cancel()


# -- what was committed, published and applied -------------------------------------------


async def _fetch(database_url: str, query: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


@dataclass(frozen=True)
class Committed:
    """A service's event store: event ids, and each stream's type and last version."""

    event_ids: list[str]
    versions: dict[str, int]
    stream_types: dict[str, str]

    def versions_of(self, stream_type: str | None) -> dict[str, int]:
        return {
            stream_id: version
            for stream_id, version in self.versions.items()
            if stream_type is None or self.stream_types[stream_id] == stream_type
        }


async def committed(database_url: str) -> Committed:
    rows = await _fetch(
        database_url, "SELECT event_id, stream_id, stream_type, stream_version FROM events"
    )
    versions: dict[str, int] = {}
    types: dict[str, str] = {}
    for row in rows:
        versions[row["stream_id"]] = max(versions.get(row["stream_id"], 0), row["stream_version"])
        types[row["stream_id"]] = row["stream_type"]
    return Committed([str(row["event_id"]) for row in rows], versions, types)


async def applied(database_url: str, consumer: str) -> dict[str, int]:
    """Each aggregate's last version a durable consumer has handled (its claims)."""
    rows = await _fetch(
        database_url,
        "SELECT stream_id, stream_version FROM consumer_streams WHERE consumer = $1",
        consumer,
    )
    return {row["stream_id"]: row["stream_version"] for row in rows}


async def published_ids(js: JetStreamContext, service: str) -> list[str]:
    """The event id of every message on the service's stream, in stream order."""
    return [(msg.headers or {})[MSG_ID_HEADER] for msg in await stream_messages(js, service)]


_AGGREGATE_FILTER = re.compile(r"^mentorship\.[a-z]+\.(?P<aggregate>[a-z_]+)\.>$")


@dataclass(frozen=True)
class Durable:
    name: str
    source: str
    owner: str
    stream_type: str | None  # None: every aggregate of the source

    @classmethod
    def of(cls, source: str, name: str, filter_subject: str | None) -> Durable:
        owner = CONSUMER_OWNERS[name.split("-", 1)[0]]
        match = _AGGREGATE_FILTER.match(filter_subject or "")
        return cls(name, source, owner, match["aggregate"] if match else None)


async def durables(js: JetStreamContext, sources: Iterable[str]) -> list[Durable]:
    """Every durable consumer of the sources' streams (what the services created)."""
    found = []
    for source in sources:
        found += [
            Durable.of(source, info.name, info.config.filter_subject)
            for info in await js.consumers_info(stream_name(source))
            if info.config.durable_name
        ]
    return found


@dataclass
class Delivery:
    """Where committed events stand downstream; ``complete`` when nothing is missing.

    ``missing``: events of the store not on its stream, or not applied by a durable
    consumer (the sum over aggregates of the versions it has yet to handle);
    ``duplicated``: events on a stream more than once.
    """

    missing: dict[str, int] = field(default_factory=dict)
    duplicated: dict[str, int] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return not self.missing and not self.duplicated


async def delivery(stack: Stack, js: JetStreamContext, sources: Iterable[str]) -> Delivery:
    """Compare every store with its JetStream stream (each event exactly once) and with
    every durable consumer's claims (each aggregate applied up to its last version)."""
    result = Delivery()
    sources = list(sources)
    stores = {source: await committed(stack.database_urls[source]) for source in sources}
    for source, store in stores.items():
        ids = await published_ids(js, source)
        result.duplicated[f"{source} stream"] = len(ids) - len(set(ids))
        result.missing[f"{source} stream"] = len(set(store.event_ids) - set(ids))
    for durable in await durables(js, sources):
        if durable.owner not in stack.database_urls:
            continue
        expected = stores[durable.source].versions_of(durable.stream_type)
        claims = await applied(stack.database_urls[durable.owner], durable.name)
        result.missing[durable.name] = sum(
            version - claims.get(stream, 0) for stream, version in expected.items()
        )
    result.missing = {k: v for k, v in result.missing.items() if v}
    result.duplicated = {k: v for k, v in result.duplicated.items() if v}
    return result


async def until_delivered(
    stack: Stack,
    nats_urls: list[str],
    sources: Iterable[str] = SOURCES,
    *,
    timeout: float = 120.0,  # noqa: ASYNC109 - a polling deadline
) -> Delivery:
    nc = await nats.connect(nats_urls)
    try:
        js = nc.jetstream()
        last: list[Delivery | Exception] = []

        async def done() -> Delivery | None:
            try:
                result = await delivery(stack, js, sources)
            except nats.errors.Error as exc:  # a JetStream request lost in a fail-over
                last[:] = [exc]
                return None
            last[:] = [result]
            return result if result.complete else None

        try:
            return await wait_until(
                done, timeout=timeout, interval=0.5, message="every event delivered"
            )
        except TimeoutError as exc:
            raise TimeoutError(f"not delivered within {timeout}s: {last!r}") from exc
    finally:
        await nc.close()


# -- analytics ------------------------------------------------------------------------------


async def handled_events(http: httpx.AsyncClient, analytics: str) -> dict[str, int]:
    answer = await http.get(f"{analytics}/v1/admin/consumers", headers=ADMIN)
    answer.raise_for_status()
    return {item["source"]: item["handled_events"] for item in answer.json()["items"]}


async def rebuild_every_read_model(http: httpx.AsyncClient, analytics: str) -> None:
    """Drop and rebuild each read model from the streams; returns once each is swapped in."""
    for name in READ_MODELS:
        started = await http.post(f"{analytics}/v1/admin/read-models/{name}/rebuild", headers=ADMIN)
        assert started.status_code == 202, started.text
        location = analytics + started.headers["Location"]

        async def swapped(location: str = location) -> bool:
            body = (await http.get(location, headers=ADMIN)).json()
            assert body["status"] != "failed", body
            return body["status"] == "swapped"

        await wait_until(swapped, timeout=90, interval=0.2, message=f"rebuild of {name}")


def report(scenario: str, tally: Tally, **figures: object) -> None:
    """Log what a scenario measured (shown on failure, or with ``--log-cli-level=INFO``)."""
    log.info(
        json.dumps(
            {
                "scenario": scenario,
                "acknowledged": dict(tally.acknowledged),
                "faults_met_by_clients": dict(tally.faults.seen),
                **figures,
            },
            default=str,
        )
    )
