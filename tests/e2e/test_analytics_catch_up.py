"""A fresh analytics database catches up on history, also when a stream was trimmed.

The sessions history lives in a real producer — a service built with the kit, served
by uvicorn on a free port — whose relay publishes it to JetStream. The stream is then
trimmed (its first messages purged, as limits would). A fresh analytics service must
take what JetStream still holds for the other sources from their streams, and the
sessions history from the producer's ``GET /v1/events`` feed; its facts must equal a
build from the complete history, and what the producer records afterwards arrives
through the consumer, once. Without a feed URL the consumer refuses to start and says
why, instead of silently counting a partial history.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvicorn

from analytics.adapters.projections import ActivityProjection
from mentorship_contracts import sessions as se
from mentorship_kit.app import ServiceSpec, create_app
from mentorship_kit.db import create_engine
from mentorship_kit.eventstore import EventStore, kit_metadata
from mentorship_kit.messaging import connect, ensure_stream, stream_name, to_cloudevent
from mentorship_kit.settings import ServiceSettings
from mentorship_kit.testing import free_port, temporary_postgres_database, wait_until

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "services/analytics/tests"))
support = importlib.import_module("analytics_support")
dataset = importlib.import_module("analytics_dataset")

PRODUCER = "sessions"
KEEP = 150  # messages the trimmed stream still holds


@contextlib.asynccontextmanager
async def producer_service(database_url: str, nats_url: str) -> AsyncIterator[str]:
    """A kit service named like the sessions service, serving HTTP on a free port."""
    spec = ServiceSpec(name=PRODUCER, title="producer", version="0.0.1", metadata=kit_metadata())
    app = create_app(
        spec,
        ServiceSettings(
            dev_mode=True, database_url=database_url, nats_url=nats_url, log_level="WARNING"
        ),
    )
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    task = asyncio.create_task(server.serve())
    try:
        await wait_until(lambda: server.started, timeout=30, message="producer serving")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def stream_messages(js) -> int:
    return (await js.stream_info(stream_name(PRODUCER))).state.messages


async def reference_activity(events: list) -> dict[str, list[tuple]]:
    """The activity facts built from the complete history, in one go."""
    async with temporary_postgres_database() as url:
        engine = create_engine(url)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(support.tables.metadata.create_all)
                await ActivityProjection().handle_batch(
                    conn, [to_cloudevent(e, PRODUCER) for e in events]
                )
            return await support.fact_rows(engine)
        finally:
            await engine.dispose()


@pytest.mark.postgres
async def test_a_trimmed_stream_is_caught_up_from_the_producers_feed(pg_database_url, nats_server):
    log = dataset.history(dataset.build_dataset())
    history = log.of(PRODUCER)
    nc = await connect(nats_server.url, name="catch-up-test")
    js = nc.jetstream()
    try:
        for service in ("enrollment", "matching"):
            await ensure_stream(js, service)
            await support.publish(js, service, log.of(service))
        async with (
            temporary_postgres_database() as producer_db,
            producer_service(producer_db, nats_server.url) as producer_url,
        ):
            store = EventStore(create_engine(producer_db))
            await support.append_to_store(store, history)
            await wait_until(lambda: stream_messages(js), timeout=30)
            await wait_until(
                lambda: _equals(stream_messages(js), len(history)), timeout=30, message="relayed"
            )
            # As recorded by the producer (with its own recording times).
            stored = [event async for event in store.iterate_all()]
            info = await js.stream_info(stream_name(PRODUCER))
            await js.purge_stream(stream_name(PRODUCER), keep=KEEP)
            trimmed = await js.stream_info(stream_name(PRODUCER))
            assert trimmed.state.first_seq == info.state.last_seq - KEEP + 1

            async with support.running_app(
                pg_database_url, nats_server.url, analytics_source_urls={PRODUCER: producer_url}
            ) as client:
                expected = {s: len(log.of(s)) for s in ("enrollment", "matching", PRODUCER)}

                async def caught_up() -> bool:
                    states = await support.consumers(client)
                    return all(states[s]["handled_events"] == n for s, n in expected.items())

                await wait_until(caught_up, timeout=60, message="caught up")
                engine = client.app.state.context.engine
                facts = await support.fact_rows(engine)
                catch_ups = {
                    name: (
                        await client.get(
                            f"/v1/admin/read-models/{name}/rebuilds", headers=support.ADMIN
                        )
                    ).json()
                    for name in ("directory", "pairs", "activity")
                }
                # Recorded afterwards by the producer: it arrives through the consumer.
                pair = next(p for p in dataset.build_dataset().pairs if p.formed_on is not None)
                later = support.EventLog(versions=dict(log.versions))
                later.add(
                    se.FeedbackSubmitted(
                        feedback_id="after-catch-up",
                        pair_id=pair.pair_id,
                        program_id=pair.program_id,
                        respondent_id=pair.mentee_id,
                        respondent_role="mentee",
                        kind="exit",
                        rating=4,
                        nps=9,
                        submitted_on=dataset.TODAY,
                    )
                )
                await support.append_to_store(store, later.of(PRODUCER))
                expected[PRODUCER] += 1
                await wait_until(caught_up, timeout=30, message="live event applied")
                after = await support.fact_rows(engine)
            await store.engine.dispose()
    finally:
        await nc.close()

    reference = await reference_activity(stored)
    for table in (
        "fact_sessions",
        "fact_goals",
        "fact_feedback",
        "fact_checkins",
        "fact_fit_checks",
    ):
        assert facts[table] == reference[table], table
    assert [r["source"] for r in catch_ups["activity"]["items"]] == ["feed"]
    assert [r["source"] for r in catch_ups["directory"]["items"]] == ["jetstream"]
    assert all(r["status"] == "swapped" for c in catch_ups.values() for r in c["items"])
    assert len(after["fact_feedback"]) == len(facts["fact_feedback"]) + 1


async def _equals(value, expected) -> bool:
    return await value == expected


@pytest.mark.postgres
async def test_without_a_feed_a_trimmed_stream_stops_the_consumer_with_the_reason(
    pg_database_url, nats_server
):
    log = dataset.history(dataset.build_dataset())
    nc = await connect(nats_server.url, name="catch-up-test")
    js = nc.jetstream()
    try:
        await ensure_stream(js, PRODUCER)
        await support.publish(js, PRODUCER, log.of(PRODUCER))
        await js.purge_stream(stream_name(PRODUCER), keep=KEEP)
        async with support.running_app(pg_database_url, nats_server.url) as client:

            async def failing() -> dict | None:
                state = (await support.consumers(client))[PRODUCER]
                return state if state["state"] == "failing" else None

            state = await wait_until(failing, timeout=30, message="consumer failing")
            facts = await support.fact_rows(client.app.state.context.engine)
    finally:
        await nc.close()

    assert "ANALYTICS_SOURCE_URLS" in state["error"]
    assert facts["fact_sessions"] == []
