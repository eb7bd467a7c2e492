"""A rebuilt read model equals the incrementally built one, row by row.

The known dataset is applied event by event by the running consumers; then each read
model is rebuilt through the admin API (JetStream replay into shadow tables, atomic
swap, consumer paused meanwhile) and every fact table must hold exactly the same rows.
The consumers then resume and apply what arrives next, once.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from mentorship_contracts import sessions as se
from mentorship_kit.messaging import connect, ensure_stream
from mentorship_kit.testing import wait_until

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "services/analytics/tests"))
support = importlib.import_module("analytics_support")
dataset = importlib.import_module("analytics_dataset")

READ_MODELS = {"directory": "enrollment", "pairs": "matching", "activity": "sessions"}


async def caught_up(client, expected: dict[str, int]) -> bool:
    states = await support.consumers(client)
    return all(states[source]["handled_events"] == n for source, n in expected.items())


async def rebuild(client, name: str, key: str) -> dict[str, object]:
    started = await client.post(
        f"/v1/admin/read-models/{name}/rebuild",
        headers={**support.ADMIN, "Idempotency-Key": key},
    )
    assert started.status_code == 202, started.text
    location = started.headers["Location"]
    again = await client.post(
        f"/v1/admin/read-models/{name}/rebuild",
        headers={**support.ADMIN, "Idempotency-Key": key},
    )
    assert again.json()["rebuild_id"] == started.json()["rebuild_id"]

    async def finished() -> dict[str, object] | None:
        body = (await client.get(location, headers=support.ADMIN)).json()
        return body if body["status"] in {"swapped", "failed"} else None

    return await wait_until(finished, timeout=60, message=f"rebuild of {name}")


async def test_rebuilt_read_models_equal_the_incremental_ones(database_url, nats_server):
    log = dataset.history(dataset.build_dataset())
    nc = await connect(nats_server.url, name="rebuild-test")
    js = nc.jetstream()
    try:
        for service in READ_MODELS.values():
            await ensure_stream(js, service)
        async with support.running_app(database_url, nats_server.url) as client:
            engine = client.app.state.context.engine
            # Published while analytics runs: the consumers apply them one by one.
            for service in READ_MODELS.values():
                await support.publish(js, service, log.of(service))
            expected = {service: len(log.of(service)) for service in READ_MODELS.values()}
            await wait_until(lambda: caught_up(client, expected), timeout=90, message="incremental")
            incremental = await support.fact_rows(engine)
            assert sum(len(rows) for rows in incremental.values()) > 700

            outcomes = {
                name: await rebuild(client, name, f"rebuild-{name}") for name in READ_MODELS
            }
            rebuilt = await support.fact_rows(engine)

            # Resumed consumers apply new events once, on the rebuilt tables.
            pair = next(p for p in dataset.build_dataset().pairs if p.formed_on is not None)
            extra = support.EventLog()
            extra.add(
                se.FeedbackSubmitted(
                    feedback_id="after-rebuild",
                    pair_id=pair.pair_id,
                    program_id=pair.program_id,
                    respondent_id=pair.mentee_id,
                    respondent_role="mentee",
                    kind="exit",
                    rating=5,
                    nps=10,
                    submitted_on=dataset.TODAY,
                )
            )
            await support.publish(js, "sessions", extra.of("sessions"))
            expected["sessions"] += 1
            await wait_until(lambda: caught_up(client, expected), timeout=30, message="applied")

            async def resumed() -> dict | None:
                states = await support.consumers(client)
                every = {s["state"] for s in states.values()}
                return states if every == {"consuming"} else None

            states = await wait_until(resumed, timeout=30, message="every consumer resumed")
            after = await support.fact_rows(engine)
    finally:
        await nc.close()

    for name, source in READ_MODELS.items():
        outcome = outcomes[name]
        assert outcome["status"] == "swapped", outcome
        assert outcome["source"] == "jetstream"
        assert outcome["events"] == len(log.of(source))
        assert outcome["expected_events"] == len(log.of(source))
    for table, rows in incremental.items():
        assert rebuilt[table] == rows, table
    feedback = [row for row in after["fact_feedback"] if row[0] == "after-rebuild"]
    assert len(feedback) == 1
    assert len(after["fact_feedback"]) == len(rebuilt["fact_feedback"]) + 1
    assert all(s["lag"] == 0 for s in states.values())
