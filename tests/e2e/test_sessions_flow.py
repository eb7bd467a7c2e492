"""A pair's life as the sessions service sees it, across real PostgreSQL and NATS.

Matching and enrollment are stood in for by their own event stores (own PostgreSQL
databases) with their own outbox relays publishing to JetStream, exactly as those
services publish. The sessions service consumes their streams, takes sessions, goals and
feedback over its API, and publishes its own events on MENTORSHIP_SESSIONS.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy

from mentorship_contracts import EventContract
from mentorship_contracts.enrollment import ProgramCreated, ProgramSettings
from mentorship_contracts.matching import PairEnded, PairFormed
from mentorship_kit import messaging
from mentorship_kit.app import create_app
from mentorship_kit.auth import issue_dev_token
from mentorship_kit.db import create_engine
from mentorship_kit.eventstore import EventStore, NewEvent
from mentorship_kit.relay import OutboxRelay
from mentorship_kit.settings import DEFAULT_DEV_SECRET, ServiceSettings
from mentorship_kit.testing import postgres, temporary_postgres_database, wait_until
from sessions.bootstrap import build_spec

pytestmark = pytest.mark.skipif(
    postgres.test_database_url() is None, reason="needs TEST_DATABASE_URL"
)

TODAY = datetime.now(UTC).date()
SUFFIX = uuid.uuid4().hex[:8]
PAIR = {
    "pair_id": f"pair-{SUFFIX}",
    "program_id": f"prog-{SUFFIX}",
    "mentor_id": f"mentor-{SUFFIX}",
    "mentee_id": f"mentee-{SUFFIX}",
}
PRIVATE_NOTE = f"private-note-{SUFFIX}"


def bearer(sub: str) -> dict[str, str]:
    token = issue_dev_token(DEFAULT_DEV_SECRET, role="participant", sub=sub)
    return {"Authorization": f"Bearer {token}"}


MENTOR, MENTEE = bearer(PAIR["mentor_id"]), bearer(PAIR["mentee_id"])


class Upstream:
    """Another service's event store and relay: what it appends reaches JetStream."""

    def __init__(self, service: str, url: str, js: JetStreamContext) -> None:
        self.service = service
        self.store = EventStore(create_engine(url))
        self.relay = OutboxRelay(self.store, js, service=service)

    async def append(self, stream_id: str, event: EventContract) -> None:
        async with self.store.transaction() as conn:
            version = await self.store.stream_version(conn, stream_id)
            await self.store.append(
                conn, [NewEvent.from_contract(stream_id, event)], expected_version=version
            )


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
            await side.store.engine.dispose()


@asynccontextmanager
async def sessions_service(url: str, nats_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = ServiceSettings(
        dev_mode=True, database_url=url, nats_url=nats_url, log_level="WARNING"
    )
    app = create_app(build_spec(), settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sessions") as client:
            yield client


def program_settings() -> ProgramSettings:
    return ProgramSettings(
        name="Pilot",
        objective="retention",
        formats=["one_to_one"],
        tracks=[],
        starts_on=TODAY - timedelta(days=120),
        ends_on=TODAY + timedelta(days=240),
        cadence_days=14,
        mentor_capacity=2,
        approval="auto",
    )


async def pair_status(client: httpx.AsyncClient) -> str | None:
    response = await client.get(f"/v1/pairs/{PAIR['pair_id']}", headers=MENTOR)
    return response.json()["status"] if response.status_code == 200 else None


async def until_status(client: httpx.AsyncClient, status: str) -> None:
    async def reached() -> bool:
        return await pair_status(client) == status

    await wait_until(reached, timeout=30, message=f"pair {status} in the sessions service")


async def published_sessions_events(js: JetStreamContext, count: int) -> list[Msg]:
    """The first ``count`` messages of MENTORSHIP_SESSIONS."""
    sub = await js.subscribe(
        "mentorship.sessions.>",
        stream=messaging.stream_name("sessions"),
        ordered_consumer=True,
        deliver_policy=DeliverPolicy.ALL,
    )
    try:
        return [await sub.next_msg(timeout=30) for _ in range(count)]
    finally:
        await sub.unsubscribe()


async def test_a_pair_from_formed_to_ended(nats_server):
    pair_path = f"/v1/pairs/{PAIR['pair_id']}"
    async with AsyncExitStack() as stack:
        nc = await messaging.connect(nats_server.url, name="e2e")
        stack.push_async_callback(nc.close)
        js = nc.jetstream()
        matching = await stack.enter_async_context(upstream("matching", js))
        enrollment = await stack.enter_async_context(upstream("enrollment", js))
        url = await stack.enter_async_context(temporary_postgres_database(prefix="e2e_sessions"))
        client = await stack.enter_async_context(sessions_service(url, nats_server.url))

        # Enrollment designs the program; matching forms the pair.
        await enrollment.append(
            f"program-{PAIR['program_id']}",
            ProgramCreated(program_id=PAIR["program_id"], settings=program_settings()),
        )
        await matching.append(
            PAIR["pair_id"], PairFormed(**PAIR, format="one_to_one", formed_on=TODAY)
        )
        await until_status(client, "active")

        # The pair records its relationship over the API.
        back_dated = await client.post(
            f"{pair_path}/sessions",
            json={"status": "held", "held_on": str(TODAY - timedelta(days=100)),
                  "duration_minutes": 60, "topics": ["onboarding"], "notes": PRIVATE_NOTE},
            headers=MENTEE,
        )  # fmt: skip
        planned = await client.post(
            f"{pair_path}/sessions",
            json={"status": "scheduled", "scheduled_for": _at(TODAY + timedelta(days=7)),
                  "duration_minutes": 45, "mode": "in_person"},
            headers=MENTOR,
        )  # fmt: skip
        session_url = f"/v1/sessions/{planned.json()['session_id']}"
        moved = await client.post(
            f"{session_url}/reschedule",
            json={"scheduled_for": _at(TODAY + timedelta(days=9))},
            headers=MENTEE,
        )
        cancelled = await client.post(f"{session_url}/cancel", headers=MENTOR)
        goal = await client.post(
            f"{pair_path}/goals",
            json={"title": "Present at the all-hands", "milestones": [{"title": "Outline"}]},
            headers=MENTEE,
        )
        goal_url = f"/v1/goals/{goal.json()['goal_id']}"
        progressed = await client.patch(goal_url, json={"progress": 50}, headers=MENTEE)
        achieved = await client.patch(goal_url, json={"status": "achieved"}, headers=MENTOR)
        rated = await client.post(
            f"{pair_path}/feedback",
            json={"kind": "session", "rating": 4, "nps": 9, "comment": PRIVATE_NOTE,
                  "session_id": back_dated.json()["session_id"]},
            headers=MENTEE,
        )  # fmt: skip
        checked_in = await client.post(
            f"{pair_path}/check-ins", json={"relationship_quality": 3, "nps": 6}, headers=MENTOR
        )
        fit = await client.post(f"{pair_path}/fit-check", json={"fits": False}, headers=MENTEE)
        answers = [back_dated, planned, moved, cancelled, goal, progressed, achieved, rated,
                   checked_in, fit]  # fmt: skip
        assert [r.status_code for r in answers] == [
            201,
            201,
            200,
            200,
            201,
            200,
            200,
            201,
            201,
            201,
        ]

        # Their events are on JetStream, as CloudEvents, without any text.
        expected = [
            "SessionLogged", "SessionScheduled", "SessionRescheduled", "SessionCancelled",
            "GoalSet", "MilestoneAdded", "GoalProgressed", "GoalAchieved", "FeedbackSubmitted",
            "FeedbackSubmitted", "CheckInCompleted", "FitCheckFailed",
        ]  # fmt: skip
        messages = await published_sessions_events(js, len(expected))
        assert [m.headers["ce-eventtype"] for m in messages] == expected
        assert all(m.headers["Nats-Msg-Id"] == m.headers["ce-id"] for m in messages)
        assert all(PRIVATE_NOTE.encode() not in m.data for m in messages)
        fit_failed = messaging.from_message(messages[-1])
        assert fit_failed.data["pair_id"] == PAIR["pair_id"]
        assert fit_failed.data["respondent_role"] == "mentee"
        assert messages[-1].subject == "mentorship.sessions.feedback.fit_check_failed"

        # Matching ends the pair: it becomes read-only, but its exit survey is welcome.
        await matching.append(
            PAIR["pair_id"],
            PairEnded(**PAIR, reason="failed_fit", ended_by=None, ended_on=TODAY),
        )
        await until_status(client, "ended")
        refused = await client.post(
            f"{pair_path}/sessions", json={"status": "held", "duration_minutes": 30}, headers=MENTEE
        )
        goal_refused = await client.post(f"{pair_path}/goals", json={"title": "x"}, headers=MENTEE)
        exit_survey = await client.post(
            f"{pair_path}/feedback", json={"kind": "exit", "rating": 2}, headers=MENTOR
        )

        assert refused.status_code == 409
        assert refused.json()["pair_status"] == "ended"
        assert goal_refused.status_code == 409
        assert exit_survey.status_code == 201
        sessions = await client.get(f"{pair_path}/sessions", headers=MENTOR)
        assert {s["status"] for s in sessions.json()["items"]} == {"held", "cancelled"}


def _at(day: date) -> str:
    return f"{day}T15:00:00Z"
