"""Killing analytics mid-stream loses nothing and counts nothing twice.

The analytics service runs as a uvicorn process while the known dataset is being
published. It is killed with SIGKILL once its consumers are part-way through (the
publisher keeps going while it is dead), then started again. At the end every event
has been applied exactly once: each aggregate's version claim equals its number of
events, nothing was dead-lettered, and the fact tables equal, row by row, a rebuild of
every read model from the streams.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
from pathlib import Path

import httpx
import pytest

from mentorship_kit.messaging import connect, ensure_stream
from mentorship_kit.testing import ServiceProcess, free_port, wait_until

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "services/analytics/tests"))
support = importlib.import_module("analytics_support")
dataset = importlib.import_module("analytics_dataset")

SOURCES = ("enrollment", "matching", "sessions")
READ_MODELS = ("directory", "pairs", "activity")


async def publish_slowly(js, log, per_batch: int = 40) -> None:
    """Interleave the three streams in small batches, yielding between them."""
    queues = {service: list(log.of(service)) for service in SOURCES}
    while any(queues.values()):
        for service, events in queues.items():
            batch, queues[service] = events[:per_batch], events[per_batch:]
            await support.publish(js, service, batch)
        await asyncio.sleep(0.02)  # pacing the publisher, not synchronising with it


async def handled(http: httpx.AsyncClient, url: str) -> dict[str, int]:
    answer = await http.get(f"{url}/v1/admin/consumers", headers=support.ADMIN)
    answer.raise_for_status()
    return {item["source"]: item["handled_events"] for item in answer.json()["items"]}


@pytest.mark.postgres
@pytest.mark.slow
async def test_a_killed_analytics_process_resumes_without_loss_or_double_counting(
    pg_database_url, nats_server, tmp_path
):
    log = dataset.history(dataset.build_dataset())
    total = {service: len(log.of(service)) for service in SOURCES}
    env = support.service_env(pg_database_url, nats_server.url)
    process = ServiceProcess("analytics.main:create_app", free_port(), env, tmp_path / "a.log")
    nc = await connect(nats_server.url, name="crash-test")
    js = nc.jetstream()
    try:
        for service in SOURCES:
            await ensure_stream(js, service)
        async with httpx.AsyncClient(timeout=30) as http:
            process.start()
            await process.ready(http)
            publisher = asyncio.create_task(publish_slowly(js, log))

            async def part_way() -> bool:
                return sum((await handled(http, process.url)).values()) >= 150

            await wait_until(part_way, timeout=60, message="part of the stream applied")
            process.kill()
            at_kill = sum((await support.applied_versions(pg_database_url)).values())
            await publisher
            process.start()
            await process.ready(http)

            async def all_applied() -> bool:
                return await handled(http, process.url) == total

            await wait_until(all_applied, timeout=120, message="every event applied")
            versions = await support.applied_versions(pg_database_url)
            letters = await http.get(f"{process.url}/v1/admin/dead-letters", headers=support.ADMIN)
            kpis_before = await http.get(
                f"{process.url}/v1/programs/{dataset.P1}/kpis", headers=support.ADMIN
            )
            engine = support.engine_for(pg_database_url)
            try:
                incremental = await support.fact_rows(engine)
                for name in READ_MODELS:
                    started = await http.post(
                        f"{process.url}/v1/admin/read-models/{name}/rebuild", headers=support.ADMIN
                    )
                    location = process.url + started.headers["Location"]

                    async def swapped(location: str = location) -> bool:
                        body = (await http.get(location, headers=support.ADMIN)).json()
                        assert body["status"] != "failed", body
                        return body["status"] == "swapped"

                    await wait_until(swapped, timeout=60, message=f"rebuild of {name}")
                rebuilt = await support.fact_rows(engine)
            finally:
                await engine.dispose()
            kpis_after = await http.get(
                f"{process.url}/v1/programs/{dataset.P1}/kpis", headers=support.ADMIN
            )
    finally:
        process.stop()
        await nc.close()

    assert 0 < at_kill < sum(total.values())
    expected_versions: dict[str, int] = {}
    for service in SOURCES:
        for event in log.of(service):
            expected_versions[event.stream_id] = event.stream_version
    assert versions == expected_versions
    assert letters.json()["items"] == []
    for table, rows in incremental.items():
        assert rebuilt[table] == rows, table
    assert kpis_before.status_code == 200
    assert kpis_before.json() == kpis_after.json()
