"""Two instances of every service against one PostgreSQL server and one nats-server.

What a platform team scaling out needs to know: with two replicas of each service,
exactly one relay per service publishes, commands may land on either replica, a killed
leader's work is taken over by the other, every event reaches JetStream exactly once,
and the downstream read models count each fact once.
"""

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import nats
import pytest

from mentorship_kit.auth import issue_dev_token
from mentorship_kit.messaging import stream_name
from mentorship_kit.settings import DEFAULT_DEV_SECRET
from mentorship_kit.testing import (
    ServiceProcess,
    free_port,
    temporary_postgres_database,
    wait_until,
)
from mentorship_kit.testing.postgres import asyncpg_dsn

SERVICES = ("enrollment", "matching", "sessions", "analytics")
ADMIN = {"Authorization": f"Bearer {issue_dev_token(DEFAULT_DEV_SECRET, role='admin', sub='ops')}"}
LEADER = re.compile(r'^relay_leader\{[^}]*service="(?P<service>[a-z]+)"[^}]*\} (?P<value>\S+)$')


class Instance(ServiceProcess):
    """One replica of a service, started at once."""

    def __init__(self, service: str, index: int, database_url: str, nats_url: str, logs: Path):
        self.service = service
        self.name = f"{service}-{index}"
        env = {
            "DATABASE_URL": database_url,
            "NATS_URL": nats_url,
            "DEV_MODE": "true",
            "LOG_LEVEL": "WARNING",
        }
        super().__init__(f"{service}.main:create_app", free_port(), env, logs / f"{self.name}.log")
        self.start()

    async def leads(self, http: httpx.AsyncClient) -> bool:
        text = (await http.get(f"{self.url}/metrics")).text
        for line in text.splitlines():
            match = LEADER.match(line)
            if match and match["service"] == self.service and float(match["value"]) == 1.0:
                return True
        return False


@asynccontextmanager
async def replicas(
    nats_url: str, logs: Path
) -> AsyncIterator[tuple[dict[str, list[Instance]], dict[str, str]]]:
    """Two instances of every service; each service's pair shares one database."""
    async with AsyncExitStack() as stack:
        urls = {s: await stack.enter_async_context(temporary_postgres_database()) for s in SERVICES}
        instances = {s: [Instance(s, i, urls[s], nats_url, logs) for i in (1, 2)] for s in SERVICES}
        try:
            yield instances, urls
        finally:
            for pair in instances.values():
                for instance in pair:
                    instance.stop()


async def _stream_ids(nats_url: str, service: str) -> list[str]:
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(stream_name(service))
        ids = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            message = await js.get_msg(stream_name(service), seq)
            ids.append(message.headers["Nats-Msg-Id"])
        return ids
    finally:
        await nc.close()


async def _stored_ids(database_url: str) -> list[str]:
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        return [str(r["event_id"]) for r in await conn.fetch("SELECT event_id FROM events")]
    finally:
        await conn.close()


class Scenario:
    """Commands spread over both enrollment replicas, as a load balancer would."""

    def __init__(self, http: httpx.AsyncClient, replicas: list[Instance]) -> None:
        self.http = http
        self.replicas = replicas
        self.program_id = ""

    def on(self, n: int) -> Instance:
        return self.replicas[n % len(self.replicas)]

    async def hire(self, n: int, person: str) -> None:
        response = await self.http.put(
            f"{self.on(n).url}/v1/employees/{person}",
            json={
                "email": f"{person}@example.com",
                "given_name": "Given",
                "family_name": person,
                "department": "Engineering",
                "job_level": 3 + n % 3,
                "languages": ["en"],
                "hired_on": "2020-01-01",
            },
        )
        assert response.status_code == 201, response.text

    async def open_program(self) -> None:
        created = await self.http.post(
            f"{self.on(0).url}/v1/programs",
            json={
                "name": "Replicated",
                "objective": "Prove scale-out",
                "formats": ["one_to_one"],
                "starts_on": datetime.now(UTC).date().isoformat(),
                "cadence_days": 14,
                "mentor_capacity": 2,
                "approval": "auto",
            },
        )
        assert created.status_code == 201, created.text
        self.program_id = created.json()["id"]
        opened = await self.http.post(f"{self.on(1).url}/v1/programs/{self.program_id}/open")
        assert opened.status_code == 200, opened.text

    async def enroll(self, n: int, person: str, role: str) -> None:
        response = await self.http.post(
            f"{self.on(n).url}/v1/programs/{self.program_id}/enrollments",
            json={"employee_id": person, "role": role, "profile": {"languages": ["en"]}},
        )
        assert response.status_code == 201, response.text
        assert response.json()["status"] == "enrolled"


async def one_leader_each(http: httpx.AsyncClient, instances: dict[str, list[Instance]]) -> bool:
    for pair in instances.values():
        leading = [await i.leads(http) for i in pair if i.running]
        if leading.count(True) != 1:
            return False
    return True


async def published_exactly_once(database_url: str, nats_url: str, service: str) -> bool:
    stored = await _stored_ids(database_url)
    streamed = await _stream_ids(nats_url, service) if stored else []
    return len(streamed) == len(set(streamed)) and sorted(streamed) == sorted(stored)


@pytest.mark.slow
async def test_two_replicas_of_every_service(pg_database_url, nats_server, tmp_path):
    async with (
        replicas(nats_server.url, tmp_path) as (instances, urls),
        httpx.AsyncClient(timeout=30, headers=ADMIN) as http,
    ):
        everyone = [i for pair in instances.values() for i in pair]

        async def all_ready() -> bool:
            return all(await asyncio.gather(*(i.is_ready(http) for i in everyone)))

        await wait_until(all_ready, timeout=240, interval=0.5, message="8 instances ready")
        await wait_until(
            lambda: one_leader_each(http, instances), timeout=30, message="one relay each"
        )

        scenario = Scenario(http, instances["enrollment"])
        people = [f"emp-{uuid.uuid4().hex[:8]}" for _ in range(16)]
        for n, person in enumerate(people):
            await scenario.hire(n, person)
        await scenario.open_program()
        mentors, mentees = people[:6], people[6:]
        for n, person in enumerate(mentors):
            await scenario.enroll(n, person, "mentor")
        for n, person in enumerate(mentees[:6]):
            await scenario.enroll(n, person, "mentee")

        # Kill the enrollment replica whose relay leads; the other must take over.
        first, second = instances["enrollment"]
        leader, survivor = (first, second) if await first.leads(http) else (second, first)
        leader.kill()
        scenario.replicas = [survivor]
        for n, person in enumerate(mentees[6:]):
            await scenario.enroll(n, person, "mentee")
        await wait_until(lambda: survivor.leads(http), timeout=30, message="standby leads")

        for service in SERVICES:
            await wait_until(
                lambda s=service: published_exactly_once(urls[s], nats_server.url, s),
                timeout=60,
                interval=0.5,
                message=f"{service} events on JetStream exactly once",
            )
        assert len(await _stored_ids(urls["enrollment"])) > len(people)

        # Both analytics replicas share one durable consumer: each fact counted once.
        async def counted_once() -> bool:
            analytics = instances["analytics"][0].url
            kpis = await http.get(f"{analytics}/v1/programs/{scenario.program_id}/kpis")
            return kpis.status_code == 200 and kpis.json()["participants"] == {
                "mentors": 6,
                "mentees": 10,
            }

        await wait_until(counted_once, timeout=60, interval=0.5, message="analytics counts")
        await wait_until(
            lambda: one_leader_each(http, instances), timeout=30, message="one relay each"
        )
