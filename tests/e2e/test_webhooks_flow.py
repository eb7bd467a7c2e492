"""Outbound webhooks end to end: real PostgreSQL, real nats-server, a real HTTP receiver.

Enrollment, matching and sessions are stood in for by their own event stores (their
own PostgreSQL databases) with their own outbox relays publishing to JetStream, exactly
as those services publish. The analytics service (its own database) consumes the three
streams and delivers to a receiver on a loopback port, which verifies every request
with ``standardwebhooks``. The receiver is stopped while events keep coming and
started again on the same port: every delivery arrives, in order per subscription,
and the receiver can drop duplicates by ``webhook-id``.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from nats.js import JetStreamContext

from mentorship_contracts import EventContract
from mentorship_contracts.enrollment import ProgramCreated, ProgramOpened, ProgramSettings
from mentorship_contracts.matching import PairEnded, PairFormed
from mentorship_contracts.sessions import SessionLogged
from mentorship_kit import messaging
from mentorship_kit.db import create_engine
from mentorship_kit.eventstore import EventMetadata, EventStore, NewEvent
from mentorship_kit.relay import OutboxRelay
from mentorship_kit.testing import postgres, temporary_postgres_database, wait_until

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "services/analytics/tests/webhooks"))
from webhook_receiver import Receiver
from webhook_support import running_app

pytestmark = pytest.mark.skipif(
    postgres.test_database_url() is None, reason="needs TEST_DATABASE_URL"
)

TODAY = datetime.now(UTC).date()


class Upstream:
    """Another service's event store and relay: what it appends reaches JetStream."""

    def __init__(self, service: str, url: str, js: JetStreamContext) -> None:
        self.service = service
        self.store = EventStore(create_engine(url))
        self.relay = OutboxRelay(self.store, js, service=service)
        self.appended: list[tuple[str, str, int]] = []  # (event id, type, stream version)

    async def append(self, stream_id: str, event: EventContract) -> str:
        async with self.store.transaction() as conn:
            version = await self.store.stream_version(conn, stream_id)
            [recorded] = await self.store.append(
                conn,
                [NewEvent.from_contract(stream_id, event)],
                expected_version=version,
                metadata=EventMetadata(actor=f"{self.service}-admin"),
            )
        self.appended.append((str(recorded.event_id), recorded.event_type, version + 1))
        return str(recorded.event_id)


@asynccontextmanager
async def upstream(service: str, js: JetStreamContext) -> AsyncIterator[Upstream]:
    async with temporary_postgres_database(prefix=f"e2e_{service}") as url:
        await messaging.ensure_stream(js, service)
        side = Upstream(service, url, js)
        await side.store.create_schema()
        relay = asyncio.create_task(side.relay.run())
        try:
            yield side
        finally:
            relay.cancel()
            with suppress(asyncio.CancelledError):
                await relay
            await side.store.close()
            await side.store.engine.dispose()


class Platform:
    """Events of the three producing services, on a handful of aggregates."""

    def __init__(self, enrollment: Upstream, matching: Upstream, sessions: Upstream) -> None:
        self.enrollment, self.matching, self.sessions = enrollment, matching, sessions
        self.round = 0

    async def activity(self) -> None:
        """A program created and opened, a pair formed, two sessions, the pair ended."""
        self.round += 1
        suffix = f"{self.round}-{uuid.uuid4().hex[:6]}"
        program, pair = f"prog-{suffix}", f"pair-{suffix}"
        settings = ProgramSettings(
            name=f"Pilot {suffix}",
            objective="retention",
            formats=["one_to_one"],
            tracks=[],
            starts_on=TODAY,
            ends_on=TODAY + timedelta(days=180),
            cadence_days=14,
            mentor_capacity=2,
            approval="auto",
        )
        await self.enrollment.append(
            f"program-{program}", ProgramCreated(program_id=program, settings=settings)
        )
        members = {"pair_id": pair, "program_id": program}
        people = {"mentor_id": f"mentor-{suffix}", "mentee_id": f"mentee-{suffix}"}
        await self.matching.append(
            f"pair-{pair}",
            PairFormed(**members, **people, format="one_to_one", formed_on=TODAY),
        )
        await self.enrollment.append(
            f"program-{program}", ProgramOpened(program_id=program, opened_on=TODAY)
        )
        for n in (1, 2):
            await self.sessions.append(
                f"session-{pair}-{n}",
                SessionLogged(
                    session_id=f"{pair}-{n}",
                    **members,
                    held_on=TODAY,
                    duration_minutes=45,
                    topic_count=n,
                ),
            )
        await self.matching.append(
            f"pair-{pair}",
            PairEnded(**members, **people, reason="completed", ended_by=None, ended_on=TODAY),
        )

    def events(self, types: set[str] | None = None) -> set[str]:
        return {
            event_id
            for side in (self.enrollment, self.matching, self.sessions)
            for event_id, event_type, _ in side.appended
            if types is None or event_type in types
        }


SUBSCRIPTIONS = {
    "everything": ["*"],
    "pairs": ["PairFormed", "PairEnded"],
    "programs-and-sessions": ["ProgramCreated", "SessionLogged"],
}


async def subscribe(client: httpx.AsyncClient, receiver: Receiver) -> dict[str, str]:
    ids = {}
    for name, types in SUBSCRIPTIONS.items():
        answer = await client.post(
            "/v1/webhooks",
            json={"url": receiver.url(name), "event_types": types, "description": name},
        )
        assert answer.status_code == 201, answer.text
        receiver.secrets[name] = answer.json()["secret"]
        ids[name] = answer.json()["webhook_id"]
    return ids


async def delivery_log(client: httpx.AsyncClient, webhook_id: str) -> list[dict]:
    """Every delivery of a subscription, oldest first."""
    items, cursor = [], None
    while True:
        params = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        page = (await client.get(f"/v1/webhooks/{webhook_id}/deliveries", params=params)).json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items[::-1]


def wanted(platform: Platform, name: str) -> set[str]:
    types = SUBSCRIPTIONS[name]
    return platform.events(None if types == ["*"] else set(types))


async def check_deliveries(
    client: httpx.AsyncClient, receiver: Receiver, platform: Platform, webhooks: dict[str, str]
) -> None:
    """Signed, complete, in order per subscription, the outage visible in the log."""
    assert receiver.rejected == []  # every request carried a valid signature
    assert all(r.content_type == "application/cloudevents+json" for r in receiver.received)
    assert len(platform.events()) == 5 * 6
    for name, webhook_id in webhooks.items():
        unique = receiver.unique(name)
        assert {r.webhook_id for r in unique} == wanted(platform, name)
        log = await delivery_log(client, webhook_id)
        # In order per subscription: what arrived is the delivery log's order...
        assert [r.webhook_id for r in unique] == [d["event_id"] for d in log]
        assert all(d["status"] == "succeeded" for d in log)
        # ...which keeps every aggregate's events in their stream order.
        versions: dict[str, int] = {}
        for received in unique:
            subject, version = received.event["subject"], received.event["streamversion"]
            assert version > versions.get(subject, 0), (name, subject)
            versions[subject] = version
        # The outage shows in the log: failed attempts without an answer, then a 204.
        retried = [d for d in log if len(d["attempt_log"]) > 1]
        assert retried, name
        assert all(a["status_code"] is None for a in retried[0]["attempt_log"][:-1])
        assert retried[0]["attempt_log"][-1]["status_code"] == 204
        # The CloudEvent is the producer's event, with its id as webhook-id.
        for received in unique:
            assert received.event["id"] == received.webhook_id
            assert received.event["specversion"] == "1.0"
            assert received.event["source"].startswith("/mentorship/")


async def test_every_delivery_arrives_signed_in_order_through_a_receiver_outage(nats_server):
    async with AsyncExitStack() as stack:
        nc = await messaging.connect(nats_server.url, name="e2e-upstreams")
        stack.push_async_callback(nc.close)
        js = nc.jetstream()
        enrollment = await stack.enter_async_context(upstream("enrollment", js))
        matching = await stack.enter_async_context(upstream("matching", js))
        sessions = await stack.enter_async_context(upstream("sessions", js))
        platform = Platform(enrollment, matching, sessions)
        url = await stack.enter_async_context(temporary_postgres_database(prefix="e2e_analytics"))
        receiver = await stack.enter_async_context(Receiver())
        client = await stack.enter_async_context(running_app(url, nats_server.url))
        webhooks = await subscribe(client, receiver)

        # Phase 1: the receiver is up; events of all three services arrive.
        await platform.activity()
        await wait_until(
            lambda: all(
                {r.webhook_id for r in receiver.accepted(name)} == wanted(platform, name)
                for name in SUBSCRIPTIONS
            ),
            timeout=30,
            message="first round delivered",
        )

        # Phase 2: the receiver goes down while the services keep working.
        await receiver.stop()
        for _ in range(3):
            await platform.activity()

        async def retrying() -> bool:
            """Every subscription's head delivery has failed at least twice."""
            for webhook_id in webhooks.values():
                pending = [
                    d for d in await delivery_log(client, webhook_id) if d["status"] == "pending"
                ]
                if not pending or pending[0]["attempts"] < 2:
                    return False
            return True

        await wait_until(retrying, timeout=30, message="deliveries retried while down")
        await platform.activity()  # one more while it is still down

        # Phase 3: the receiver comes back on the same port; everything arrives.
        await receiver.start()
        for name, webhook_id in webhooks.items():

            async def caught_up(name: str = name, webhook_id: str = webhook_id) -> bool:
                log = await delivery_log(client, webhook_id)
                return {r.webhook_id for r in receiver.accepted(name)} == wanted(
                    platform, name
                ) and all(d["status"] == "succeeded" for d in log)

            await wait_until(caught_up, timeout=60, message=f"{name} caught up")

        await check_deliveries(client, receiver, platform, webhooks)

        # A redelivery is recognisably the same delivery: same webhook-id, dropped by dedupe.
        first = (await delivery_log(client, webhooks["pairs"]))[0]
        before = len(receiver.accepted("pairs"))
        answer = await client.post(
            f"/v1/webhooks/{webhooks['pairs']}/deliveries/{first['delivery_id']}/redeliver"
        )
        assert answer.status_code == 202
        await wait_until(lambda: len(receiver.accepted("pairs")) == before + 1, timeout=30)
        assert receiver.accepted("pairs")[-1].webhook_id == first["event_id"]
        assert [r.webhook_id for r in receiver.unique("pairs")] == [
            d["event_id"] for d in await delivery_log(client, webhooks["pairs"])
        ]
