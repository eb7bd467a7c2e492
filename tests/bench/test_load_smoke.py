"""bench/load.py cannot rot: a few seconds of its workload at a low rate, end to end.

It runs the script as a user would (its own process: four services, PostgreSQL
databases, a nats-server) and checks the JSON it prints: every endpoint of the mix was
exercised and answered, and the reconciliation found every stored event published and
applied by every consumer.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mentorship_kit.testing import postgres

pytestmark = pytest.mark.skipif(
    postgres.test_database_url() is None, reason="needs TEST_DATABASE_URL"
)

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "load.py"
ENDPOINTS = {"directory_put", "scim_patch", "apply", "log_session", "feedback", "kpis", "monthly"}
SOURCES = {"enrollment", "matching", "sessions"}


def run_load(*args):
    completed = subprocess.run(  # noqa: S603 - our own script
        [sys.executable, str(SCRIPT), "--database-url", postgres.test_database_url(), *args],
        capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout)


def test_a_short_low_rate_run_answers_everything_and_loses_nothing():
    result = run_load(
        "--seconds", "5", "--rate", "20", "--warmup", "0.5", "--pairs", "10",
        "--floor-seconds", "0.5", "--settle-timeout", "60",
    )  # fmt: skip

    assert result["requests"] == 100
    assert result["status_classes"] == {"2xx": 100}
    assert result["5xx"] == 0
    assert result["unanswered"] == 0
    assert set(result["endpoints"]) == ENDPOINTS
    for figures in result["endpoints"].values():
        assert figures["count"] >= 1
        assert 0 < figures["p50_ms"] <= figures["p99_ms"] <= figures["max_ms"]

    reconciliation = result["reconciliation"]
    assert reconciliation["lost_events"] == 0
    assert reconciliation["events_published"] == reconciliation["events_stored"]
    consumers = reconciliation["consumers"]
    assert {c["source"] for c in consumers.values()} == SOURCES
    assert {f"analytics-{source}" for source in SOURCES} <= set(consumers)
    for name, consumer in consumers.items():
        assert consumer["missing"] == 0, name
        assert consumer["events_seen"] == consumer["events_expected"] > 0, name
    for source in SOURCES:
        seen = consumers[f"analytics-{source}"]["events_seen"]
        assert seen == reconciliation["events_stored"][source]
    assert not any(reconciliation["dead_letters"].values())
    assert reconciliation["sessions_logged_in_store"] > 0
    assert (
        reconciliation["sessions_held_in_analytics"] == reconciliation["sessions_logged_in_store"]
    )

    assert result["floor"]["asyncpg_insert_per_s"] > 0
    assert result["floor"]["nats_publish_per_s"] > 0
    assert set(result["load_average_1m"]) == {"start", "before_load", "end_of_load", "end"}
    cpu = result["cpu"]
    assert 0 <= cpu["machine_busy_share"] <= 1
    assert set(cpu["cores"]) == {*SOURCES, "analytics", "postgres", "nats", "client"}
    assert cpu["ms_per_request"]["total"] > 0
