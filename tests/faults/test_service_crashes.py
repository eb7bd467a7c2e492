"""kill -9 each service in turn under load: nothing lost, nothing counted twice.

The four services run as processes on PostgreSQL and one nats-server while a steady
command load runs. Each service in turn is killed with SIGKILL (no shutdown hook: the
relay's in-flight publishes, the consumers' unacknowledged batches, the requests being
served all die with it), left dead while the load goes on against the others, and
started again. The load's clients retry what met the crash with the same
``Idempotency-Key``.

Afterwards every committed event is on its stream exactly once and applied by every
durable consumer; the analytics figures equal what the client counted as acknowledged
(so nothing was counted twice, nor dropped); and rebuilding every read model from
scratch gives back the same figures and the same rows.
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "services/analytics/tests"))
support = importlib.import_module("faults_support")
analytics_support = importlib.import_module("analytics_support")

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

PAIRS = 2


async def kpis(http: httpx.AsyncClient, analytics: str, program_id: str) -> dict[str, object]:
    answer = await http.get(f"{analytics}/v1/programs/{program_id}/kpis", headers=support.ADMIN)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_each_service_killed_under_load_loses_and_doubles_nothing(
    postgres_server, nats_server, tmp_path
):
    async with (
        support.running_stack(tmp_path, postgres_server.url, [nats_server.url]) as stack,
        httpx.AsyncClient(timeout=30) as http,
    ):
        await stack.ready(http)
        program_id, pairs = await support.open_program(http, stack, pairs=PAIRS)
        load = support.Load(http, stack, program_id, pairs)
        async with support.steady_load(load):
            await load.until_more(40)
            down: dict[str, float] = {}
            for service in support.SERVICES:
                process = stack.processes[service]
                process.kill()
                killed_at = time.monotonic()
                # The others carry on meanwhile; this one's clients retry.
                await load.until_more(20)
                process.start()
                await process.ready(http)
                down[service] = round(time.monotonic() - killed_at, 2)
                await load.until_more(30)
            tally = await load.stop()

        await support.until_delivered(stack, [nats_server.url])
        analytics = stack.url("analytics")
        incremental = await kpis(http, analytics, program_id)
        engine = analytics_support.engine_for(stack.database_urls["analytics"])
        try:
            rows_before = await analytics_support.fact_rows(engine)
            await support.rebuild_every_read_model(http, analytics)
            rows_after = await analytics_support.fact_rows(engine)
        finally:
            await engine.dispose()
        rebuilt = await kpis(http, analytics, program_id)

    support.report("service crashes", tally, down_seconds=down, kpis=incremental)
    # The crashes were felt (clients had to retry) and survived.
    assert tally.faults.total() > 0
    assert all(tally.acknowledged[kind] > 0 for kind in ("hire", "session", "block", "goal"))
    # Each acknowledged command counted exactly once downstream.
    assert incremental["participants"] == {"mentors": PAIRS, "mentees": PAIRS}
    assert incremental["pairs"] == {"formed": PAIRS, "active": PAIRS, "ended": 0}
    assert incremental["sessions"]["held"] == tally.acknowledged["session"]
    assert incremental["goals"]["set"] == tally.acknowledged["goal"]
    assert incremental["satisfaction"]["responses"] == tally.acknowledged["feedback"]
    # A from-scratch rebuild agrees, figure by figure and row by row.
    assert rebuilt == incremental
    assert rows_after == rows_before
