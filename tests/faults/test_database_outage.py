"""The database stops under load: 503s meanwhile, nothing half-written, recovery unaided.

Enrollment runs as a process on a PostgreSQL server this test owns, with directory
updates coming in steadily. The server is stopped with ``pg_ctl stop -m immediate``
(every backend aborted, no checkpoint: a crash as far as the service can tell) and
started again, recovering from its WAL. Meanwhile every command is answered with a 503
problem+json carrying ``Retry-After`` — never a 500, never a hang — and ``/readyz``
says the database is failing. Nobody touches the service: its pool reconnects, its
relay takes its leadership back, readiness returns to 200 and commands succeed.

Then, for every employee, the store holds exactly one event per acknowledged change
(no write lost, none doubled by the clients' retries), the directory read table — written
in the same transaction — shows the last acknowledged record, and every stored event
is on the JetStream stream exactly once.
"""

from __future__ import annotations

import asyncio
import importlib
import itertools
import sys
import time
from pathlib import Path

import httpx
import pytest

from mentorship_kit.testing import wait_until

sys.path.insert(0, str(Path(__file__).resolve().parent))
support = importlib.import_module("faults_support")

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def events_for(bodies: list[dict[str, object]]) -> int:
    """What the directory records for these acknowledged PUTs: one event for the hire,
    one per change, and a promotion besides when the job level went up."""
    events = 1
    for before, after in itertools.pairwise(bodies):
        events += 2 if after["job_level"] > before["job_level"] else 1  # type: ignore[operator]
    return events


async def readiness(http: httpx.AsyncClient, url: str) -> tuple[int, dict[str, object]]:
    answer = await http.get(f"{url}/readyz")
    return answer.status_code, answer.json()


async def test_commands_answer_503_while_the_database_is_down_and_recover_unaided(
    postgres_server, nats_server, tmp_path
):
    async with (
        support.running_stack(
            tmp_path, postgres_server.url, [nats_server.url], services=["enrollment"]
        ) as stack,
        httpx.AsyncClient(timeout=30) as http,
    ):
        await stack.ready(http)
        enrollment = stack.url("enrollment")
        load = support.Load(http, stack, program_id="", pairs=[])
        async with support.steady_load(load):
            await load.until_more(60)
            await asyncio.to_thread(postgres_server.stop, mode="immediate")
            stopped_at = time.monotonic()

            async def unready() -> tuple[int, dict[str, object]] | None:
                status, body = await readiness(http, enrollment)
                return (status, body) if status == 503 else None

            during = await wait_until(unready, timeout=30, message="/readyz 503")
            await wait_until(
                lambda: load.tally.faults.seen["503"] >= 20, timeout=30, message="503 answers"
            )
            acknowledged_in_outage = load.tally.total
            await asyncio.to_thread(postgres_server.start)
            await stack.processes["enrollment"].ready(http, timeout=60)
            outage = time.monotonic() - stopped_at
            await load.until_more(60)
            tally = await load.stop()
        await support.until_delivered(stack, [nats_server.url], sources=["enrollment"])
        store = await support.committed(stack.database_urls["enrollment"])
        records = {
            person: (await http.get(f"{enrollment}/v1/employees/{person}", headers=support.ADMIN))
            for person in tally.directory
        }

    support.report("database outage", tally, outage_seconds=round(outage, 2))
    # During the outage: 503 problem+json with Retry-After, nothing else.
    assert during[1]["checks"]["database"]["status"] == "failing"  # type: ignore[index]
    assert set(tally.faults.seen) == {"503"}, tally.faults.seen
    for answer in tally.faults.problems:
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.headers["retry-after"] == "1"
        assert answer.json()["status"] == 503
    # The outage did not stop the load for good: commands were acknowledged after it.
    assert tally.total >= acknowledged_in_outage + 60
    # Each acknowledged change recorded once, and the read table agrees with the last.
    for person, bodies in tally.directory.items():
        assert store.versions[f"employee-{person}"] == events_for(bodies), person
        answer = records[person]
        assert answer.status_code == 200
        shown = answer.json()
        assert {k: shown[k] for k in bodies[-1]} == bodies[-1], person
    assert len(store.event_ids) == sum(events_for(b) for b in tally.directory.values())
