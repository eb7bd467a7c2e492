"""Every operation of the analytics OpenAPI (figures, admin, webhooks), fuzzed with all of
Schemathesis' checks against the real service (uvicorn in a thread, SQLite, nats-server):
one by one, then in linked sequences (a subscription created, read, changed, deleted...).

The service holds a small history of the program the document uses as its example id,
and one webhook subscription, so that generated requests reach real answers and not
only 404s.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from analytics_dataset import P1, build_dataset, history
from analytics_support import ADMIN, publish_all

from analytics.main import create_app
from mentorship_kit.messaging import connect
from mentorship_kit.testing import LiveServer, NatsServer, wait_until
from mentorship_kit.testing.fuzz import check, examples, openapi_schema, run_stateful

sys.path.insert(0, str(Path(__file__).parent / "webhooks"))
import webhook_support

# The program id of the document's examples; the seeded history's program takes it.
PROGRAM = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
# A subscription URL dev mode accepts: loopback, where nothing listens (deliveries fail
# and are retried, on this machine only).
RECEIVER = "http://127.0.0.1:9/hooks"


async def seed(nats_url: str) -> None:
    """The dataset's first program, renamed to the example id, as the producers publish."""
    log = history(build_dataset())
    for events in log.events.values():
        for index, event in enumerate(events):
            if event.data.get("program_id") == P1:
                events[index] = replace(event, data={**event.data, "program_id": PROGRAM})
    nc = await connect(nats_url, name="schemathesis-seed")
    try:
        await publish_all(nc.jetstream(), log)
    finally:
        await nc.close()


async def applied_with_a_subscription(base_url: str) -> None:
    """Wait until the history is applied; subscribe a loopback URL nothing listens on
    (the subscription's listings, deliveries and audit are there to be read)."""
    async with httpx.AsyncClient(base_url=base_url, headers=ADMIN, timeout=30) as http:

        async def kpis_ready() -> bool:
            return (await http.get(f"/v1/programs/{PROGRAM}/kpis")).status_code == 200

        await wait_until(kpis_ready, timeout=60, message="the seeded history applied")
        created = await http.post("/v1/webhooks", json={"url": RECEIVER, "event_types": ["*"]})
        assert created.status_code == 201, created.text


def build(database_url: str, nats_url: str):
    return create_app(webhook_support.settings(database_url, nats_url))


@pytest.fixture(scope="module")
def live_analytics(tmp_path_factory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("schemathesis")
    with NatsServer(store_dir=folder / "nats") as nats_server:
        asyncio.run(seed(nats_server.url))
        app = build(f"sqlite+aiosqlite:///{folder / 'analytics.db'}", nats_server.url)
        with LiveServer(app) as server:
            asyncio.run(applied_with_a_subscription(server.url))
            yield server


# Schema-valid requests refused by design, with documented statuses the check does not
# expect by default: a made-up cursor (400; a cursor is opaque), an unknown id (404), a
# delivery still pending (409) and rules JSON Schema cannot express (422: an unknown
# event type in the feed's or a subscription's `types`, a URL off the allow-list).
schema = openapi_schema(
    build("sqlite+aiosqlite:///unused.db", "nats://127.0.0.1:1").openapi(),
    accepted=["400", "404", "409", "422"],
    known={
        "path.program_id": [PROGRAM],
        "body.url": [RECEIVER],
        "body.event_types[*]": ["*", "PairFormed"],
    },
)


@schema.parametrize()
@examples(25)
def test_every_operation_conforms_to_the_openapi(case, live_analytics):
    check(case, live_analytics.url, ADMIN)


def test_linked_calls_conform_to_the_openapi(live_analytics):
    run_stateful(schema, live_analytics.url, ADMIN, scenarios=20)
