"""A pair's way through the matching service, across real PostgreSQL and NATS.

Enrollment is stood in for by its own event store (its own PostgreSQL database) with its
own outbox relay publishing to JetStream, exactly as that service publishes. The
matching service builds its candidate pool from that stream, runs and publishes a
match over its API, forms the pair when both members accept, and publishes its events on
MENTORSHIP_MATCHING; the mentee's departure then ends the pair.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy

from matching.config import MatchingSettings
from matching.main import create_app
from mentorship_contracts import CloudEvent, EventContract
from mentorship_contracts.common import Profile
from mentorship_contracts.enrollment import (
    EmployeeDeparted,
    EmployeeProvisioned,
    EmployeeRecord,
    ParticipantEnrolled,
    ParticipantWithdrew,
    ProgramCreated,
    ProgramOpened,
    ProgramSettings,
)
from mentorship_kit import messaging
from mentorship_kit.auth import issue_dev_token
from mentorship_kit.db import create_engine
from mentorship_kit.eventstore import EventMetadata, EventStore, NewEvent
from mentorship_kit.relay import OutboxRelay
from mentorship_kit.settings import DEFAULT_DEV_SECRET
from mentorship_kit.testing import postgres, temporary_postgres_database, wait_until

pytestmark = pytest.mark.skipif(
    postgres.test_database_url() is None, reason="needs TEST_DATABASE_URL"
)

TODAY = datetime.now(UTC).date()
SUFFIX = uuid.uuid4().hex[:8]
PROGRAM = f"prog-{SUFFIX}"
MENTOR = f"mentor-{SUFFIX}"
MENTEE = f"mentee-{SUFFIX}"
HRIS_ACTOR = f"hris-{SUFFIX}"


def bearer(role: str, sub: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_dev_token(DEFAULT_DEV_SECRET, role=role, sub=sub)}"}


ADMIN = bearer("admin", f"admin-{SUFFIX}")


class Enrollment:
    """Enrollment's event store and relay: what it appends reaches JetStream."""

    def __init__(self, url: str, js: JetStreamContext) -> None:
        self.store = EventStore(create_engine(url))
        self.relay = OutboxRelay(self.store, js, service="enrollment")

    async def append(self, *changes: tuple[str, EventContract]) -> None:
        """Append in one transaction, as one command of enrollment does."""
        async with self.store.transaction() as conn:
            for stream_id, event in changes:
                version = await self.store.stream_version(conn, stream_id)
                await self.store.append(
                    conn,
                    [NewEvent.from_contract(stream_id, event)],
                    expected_version=version,
                    metadata=EventMetadata(actor=HRIS_ACTOR, actor_role="hris"),
                )


@asynccontextmanager
async def enrollment_service(js: JetStreamContext) -> AsyncIterator[Enrollment]:
    async with temporary_postgres_database(prefix="e2e_enrollment") as url:
        await messaging.ensure_stream(js, "enrollment")
        side = Enrollment(url, js)
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
async def matching_service(url: str, nats_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = MatchingSettings(
        dev_mode=True,
        database_url=url,
        nats_url=nats_url,
        log_level="WARNING",
        worker_poll_seconds=0.2,
        shutdown_timeout_seconds=5,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://matching") as client:
            yield client


class Published:
    """Matching's pair events as JetStream delivers them, in order."""

    def __init__(self, js: JetStreamContext) -> None:
        self.js = js
        self.events: list[CloudEvent] = []
        self.sub: JetStreamContext.PushSubscription | None = None

    async def start(self) -> None:
        await messaging.ensure_stream(self.js, "matching")
        self.sub = await self.js.subscribe(
            "mentorship.matching.pair.>",
            stream=messaging.stream_name("matching"),
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.ALL,
        )

    async def until(self, event_type: str) -> CloudEvent:
        assert self.sub is not None
        while True:
            for event in self.events:
                if event.eventtype == event_type:
                    return event
            msg = await self.sub.next_msg(timeout=30)
            assert msg.headers is not None
            assert msg.headers["Nats-Msg-Id"] == msg.headers["ce-id"]
            self.events.append(messaging.from_message(msg))


def provisioned(employee_id: str, level: int) -> tuple[str, EmployeeProvisioned]:
    record = EmployeeRecord(
        email=f"{employee_id}@example.com",
        given_name=employee_id,
        family_name="E2E",
        department="Engineering",
        job_level=level,
        timezone="Europe/Berlin",
        languages=["en", "de"],
        hired_on=TODAY - timedelta(days=900),
    )
    return f"employee-{employee_id}", EmployeeProvisioned(employee_id=employee_id, record=record)


def program_settings() -> ProgramSettings:
    return ProgramSettings(
        name="Engineering mentoring",
        objective="retention",
        formats=["one_to_one"],
        tracks=["technical"],
        starts_on=TODAY - timedelta(days=10),
        ends_on=TODAY + timedelta(days=355),
        cadence_days=14,
        mentor_capacity=2,
        approval="auto",
    )


def enrolled(enrollment_id: str, employee_id: str, role: str, profile: Profile) -> tuple:
    return (
        f"enrollment-{enrollment_id}",
        ParticipantEnrolled(
            enrollment_id=enrollment_id,
            program_id=PROGRAM,
            employee_id=employee_id,
            role=role,
            profile=profile,
            enrolled_on=TODAY,
        ),
    )


async def test_enrollment_to_pool_to_pair_formed_and_ended_by_a_departure(nats_server):
    mentee_enrollment = f"enr-{uuid.uuid4().hex[:8]}"
    async with AsyncExitStack() as stack:
        nc = await messaging.connect(nats_server.url, name="e2e")
        stack.push_async_callback(nc.close)
        js = nc.jetstream()
        enrollment = await stack.enter_async_context(enrollment_service(js))
        url = await stack.enter_async_context(temporary_postgres_database(prefix="e2e_matching"))
        client = await stack.enter_async_context(matching_service(url, nats_server.url))
        published = Published(js)
        await published.start()

        # Enrollment: a program opens, two employees join it, one to mentor, one to learn.
        await enrollment.append(
            (f"program-{PROGRAM}", ProgramCreated(program_id=PROGRAM, settings=program_settings()))
        )
        await enrollment.append(
            (f"program-{PROGRAM}", ProgramOpened(program_id=PROGRAM, opened_on=TODAY))
        )
        await enrollment.append(provisioned(MENTOR, 6), provisioned(MENTEE, 3))
        await enrollment.append(
            enrolled(f"enr-{uuid.uuid4().hex[:8]}", MENTOR, "mentor",
                     Profile(skills_offered=["Kubernetes", "Go"], goals=["grow engineers"])),
            enrolled(mentee_enrollment, MENTEE, "mentee",
                     Profile(skills_sought=["kubernetes"], goals=["Grow engineers"])),
        )  # fmt: skip

        # Matching builds its pool from enrollment's stream.
        async def pool_size() -> int:
            response = await client.get(f"/v1/programs/{PROGRAM}/pool", headers=ADMIN)
            return len(response.json()["items"]) if response.status_code == 200 else 0

        await wait_until(lambda: _equals(pool_size(), 2), timeout=30, message="pool of two")

        # A dry run proposes the pair and explains it; publishing proposes it.
        run = await client.post(
            f"/v1/programs/{PROGRAM}/match-runs",
            json={"objective": "max_score", "weights": {"skills": 4}, "dry_run": True,
                  "constraints": {"exclude_reporting_line": True, "require_shared_language": True,
                                  "min_timezone_overlap_hours": 4}},
            headers=ADMIN,
        )  # fmt: skip
        assert run.status_code == 201, run.text
        (proposal,) = run.json()["proposals"]
        assert (proposal["mentor_id"], proposal["mentee_id"]) == (MENTOR, MENTEE)
        skills = next(f for f in proposal["explanation"] if f["factor"] == "skills")
        assert skills["value"] == 1.0  # "Kubernetes" offered, "kubernetes" sought
        assert math.isclose(
            sum(f["contribution"] for f in proposal["explanation"]), proposal["score"]
        )
        publish = await client.post(
            f"/v1/match-runs/{run.json()['id']}/publish", json={"auto_accept": False},
            headers=ADMIN,
        )  # fmt: skip
        assert publish.status_code == 200, publish.text
        pair_id = publish.json()["pairs"][0]["pair_id"]

        # Both members accept: the pair forms, and JetStream carries it.
        for member in (MENTOR, MENTEE):
            accepted = await client.post(
                f"/v1/pairs/{pair_id}/accept", headers=bearer("participant", member)
            )
            assert accepted.status_code == 200, accepted.text
        assert accepted.json()["status"] == "active"
        formed = await published.until("PairFormed")
        assert formed.data["pair_id"] == pair_id
        assert formed.subject == f"pair-{pair_id}"
        assert [e.eventtype for e in published.events] == [
            "PairProposed",
            "PairAccepted",
            "PairAccepted",
            "PairFormed",
        ]
        assert [e.streamversion for e in published.events] == [1, 2, 3, 4]

        # The mentee leaves the organisation: enrollment records the departure and the
        # withdrawal it causes; matching ends the pair.
        await enrollment.append(
            (f"employee-{MENTEE}",
             EmployeeDeparted(employee_id=MENTEE, left_on=TODAY, reason="voluntary")),
            (f"enrollment-{mentee_enrollment}",
             ParticipantWithdrew(enrollment_id=mentee_enrollment, program_id=PROGRAM,
                                 employee_id=MENTEE, role="mentee", reason="departure",
                                 withdrew_on=TODAY)),
        )  # fmt: skip
        ended = await published.until("PairEnded")
        assert ended.data["pair_id"] == pair_id
        assert ended.data["reason"] == "departure"
        assert ended.streamversion == 5
        assert ended.actor == HRIS_ACTOR
        pair = await client.get(f"/v1/pairs/{pair_id}", headers=ADMIN)
        assert pair.json()["status"] == "ended"


async def _equals(value, expected) -> bool:
    return await value == expected
