"""Test support for the matching service: tokens, a movable clock, and enrollment's facts.

The pool is fed the way the "matching-pool" consumer feeds it (the same handler, inside
a transaction), so API tests do not wait for JetStream; the consumer tests publish to
a real nats-server instead.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from matching.config import MatchingSettings
from matching.entrypoints.consumers import PoolConsumer, Wakeup
from matching.main import create_app
from mentorship_contracts import CloudEvent, EventContract
from mentorship_contracts.common import Profile, Role
from mentorship_contracts.enrollment import (
    EmployeeDeparted,
    EmployeeProvisioned,
    EmployeeRecord,
    ParticipantEnrolled,
    ParticipantProfileUpdated,
    ParticipantWithdrew,
    ProgramClosed,
    ProgramCreated,
    ProgramOpened,
    ProgramSettings,
)
from mentorship_kit import messaging
from mentorship_kit.auth import issue_dev_token
from mentorship_kit.eventstore import EventMetadata, RecordedEvent
from mentorship_kit.settings import DEFAULT_DEV_SECRET
from mentorship_kit.testing import wait_until

TODAY = date(2025, 3, 3)
START = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def bearer(*roles: str, sub: str | None = None) -> dict[str, str]:
    token = issue_dev_token(DEFAULT_DEV_SECRET, roles=roles, sub=sub)
    return {"Authorization": f"Bearer {token}"}


ADMIN = bearer("admin", sub="admin-1")
MANAGER = bearer("program_manager", sub="pm-1")
HRIS = bearer("hris", sub="hris-1")


def participant(employee_id: str) -> dict[str, str]:
    return bearer("participant", sub=employee_id)


class Clock:
    """A clock the test moves; endpoints and workers read it."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


def settings(database_url: str, nats_url: str) -> MatchingSettings:
    return MatchingSettings(
        dev_mode=True,
        database_url=database_url,
        nats_url=nats_url,
        log_level="WARNING",
        log_json=False,
        worker_poll_seconds=0.05,
        mentor_request_ttl_hours=48,
        shutdown_timeout_seconds=3,
    )


def build_app(database_url: str, nats_url: str, clock: Clock | None = None) -> FastAPI:
    return create_app(settings(database_url, nats_url), clock=clock or Clock())


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def cloud_event(event: EventContract, stream_id: str, version: int = 1) -> CloudEvent:
    return CloudEvent(
        id=str(uuid.uuid4()),
        source=f"/mentorship/{event.service}",
        type=event.cloudevents_type(),
        subject=stream_id,
        time=datetime.now(UTC),
        data=event.to_data(),
        eventtype=event.event_type(),
        schemaversion=event.schema_version,
        streamtype=event.aggregate,
        streamversion=version,
        actor="hris-1",
    )


def program_settings(formats: Sequence[str], capacity: int) -> ProgramSettings:
    return ProgramSettings(
        name="Pilot",
        objective="retention",
        formats=list(formats),
        tracks=[],
        starts_on=TODAY - timedelta(days=30),
        ends_on=TODAY + timedelta(days=300),
        cadence_days=14,
        mentor_capacity=capacity,
        approval="auto",
    )


@dataclass
class Enrollment:
    """Enrollment's facts, applied as the pool consumer applies them."""

    engine: AsyncEngine
    consumer: PoolConsumer = field(default_factory=lambda: PoolConsumer(Wakeup()))
    enrollments: dict[tuple[str, str, Role], str] = field(default_factory=dict)

    async def apply(self, event: EventContract, stream_id: str) -> None:
        async with self.engine.begin() as conn:
            await self.consumer.handle(conn, cloud_event(event, stream_id))

    async def program(
        self,
        *,
        formats: Sequence[str] = ("one_to_one", "group", "peer", "reverse", "self_directed"),
        capacity: int = 1,
        open_it: bool = True,
        program_id: str | None = None,
    ) -> str:
        program_id = program_id or unique("prog")
        stream = f"program-{program_id}"
        await self.apply(
            ProgramCreated(program_id=program_id, settings=program_settings(formats, capacity)),
            stream,
        )
        if open_it:
            await self.apply(ProgramOpened(program_id=program_id, opened_on=TODAY), stream)
        return program_id

    async def close(self, program_id: str) -> None:
        await self.apply(
            ProgramClosed(program_id=program_id, closed_on=TODAY), f"program-{program_id}"
        )

    async def employee(
        self,
        employee_id: str,
        *,
        department: str = "Engineering",
        job_level: int = 3,
        manager_id: str | None = None,
        languages: Sequence[str] = ("en",),
        timezone: str = "Europe/Paris",
        location: str = "Paris",
    ) -> str:
        record = EmployeeRecord(
            email=f"{employee_id}@example.com",
            given_name=employee_id,
            family_name="Test",
            department=department,
            job_level=job_level,
            manager_id=manager_id,
            location=location,
            timezone=timezone,
            languages=list(languages),
            hired_on=date(2020, 1, 1),
        )
        await self.apply(
            EmployeeProvisioned(employee_id=employee_id, record=record),
            f"employee-{employee_id}",
        )
        return employee_id

    async def enroll(
        self,
        program_id: str,
        employee_id: str,
        role: Role,
        *,
        offered: Sequence[str] = (),
        sought: Sequence[str] = (),
        goals: Sequence[str] = (),
        capacity: int | None = None,
        **directory: Any,
    ) -> str:
        """Provision the employee (with `directory` facts) and enroll them."""
        await self.employee(employee_id, **directory)
        enrollment_id = unique("enr")
        profile = Profile(
            skills_offered=list(offered),
            skills_sought=list(sought),
            goals=list(goals),
            languages=[],
            capacity=capacity,
        )
        await self.apply(
            ParticipantEnrolled(
                enrollment_id=enrollment_id,
                program_id=program_id,
                employee_id=employee_id,
                role=role,
                profile=profile,
                enrolled_on=TODAY,
            ),
            f"enrollment-{enrollment_id}",
        )
        self.enrollments[(program_id, employee_id, role)] = enrollment_id
        return enrollment_id

    async def update_profile(
        self, program_id: str, employee_id: str, role: Role, profile: Profile
    ) -> None:
        enrollment_id = self.enrollments[(program_id, employee_id, role)]
        await self.apply(
            ParticipantProfileUpdated(
                enrollment_id=enrollment_id,
                program_id=program_id,
                employee_id=employee_id,
                role=role,
                profile=profile,
            ),
            f"enrollment-{enrollment_id}",
        )

    async def withdraw(self, program_id: str, employee_id: str, role: Role) -> None:
        enrollment_id = self.enrollments[(program_id, employee_id, role)]
        await self.apply(
            ParticipantWithdrew(
                enrollment_id=enrollment_id,
                program_id=program_id,
                employee_id=employee_id,
                role=role,
                reason="self",
                withdrew_on=TODAY,
            ),
            f"enrollment-{enrollment_id}",
        )

    async def depart(self, employee_id: str) -> None:
        await self.apply(
            EmployeeDeparted(employee_id=employee_id, left_on=TODAY, reason="voluntary"),
            f"employee-{employee_id}",
        )


@dataclass
class Harness:
    app: FastAPI
    client: httpx.AsyncClient
    clock: Clock
    _enrollment: Enrollment | None = None

    @property
    def engine(self) -> AsyncEngine:
        engine: AsyncEngine = self.app.state.context.engine
        return engine

    def enrollment(self) -> Enrollment:
        """Enrollment's side of this test (one per test: it remembers enrollment ids)."""
        if self._enrollment is None:
            self._enrollment = Enrollment(self.engine)
        return self._enrollment

    async def run(self, program_id: str, **body: Any) -> httpx.Response:
        return await self.client.post(
            f"/v1/programs/{program_id}/match-runs", json=body, headers=ADMIN
        )

    async def publish(self, run_id: str, *, auto_accept: bool = False) -> httpx.Response:
        return await self.client.post(
            f"/v1/match-runs/{run_id}/publish", json={"auto_accept": auto_accept}, headers=ADMIN
        )

    async def pair(self, pair_id: str) -> dict[str, Any]:
        response = await self.client.get(f"/v1/pairs/{pair_id}", headers=ADMIN)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def until_pair(self, pair_id: str, status: str) -> dict[str, Any]:
        async def reached() -> dict[str, Any] | None:
            pair = await self.pair(pair_id)
            return pair if pair["status"] == status else None

        found = await wait_until(reached, timeout=30, message=f"pair {pair_id} {status}")
        assert found is not None
        return found


class Publisher:
    """Publishes as another service's relay does: CloudEvent headers, Nats-Msg-Id."""

    def __init__(self, service: Harness) -> None:
        self.js = service.app.state.context.js
        self.versions: dict[str, int] = {}

    async def publish(self, stream_id: str, event: EventContract) -> None:
        version = self.versions.get(stream_id, 0) + 1
        self.versions[stream_id] = version
        recorded = RecordedEvent(
            position=version,
            tx_id=0,
            event_id=uuid.uuid4(),
            stream_type=event.aggregate,
            stream_id=stream_id,
            stream_version=version,
            event_type=event.event_type(),
            schema_version=event.schema_version,
            data=event.to_data(),
            metadata=EventMetadata(actor="someone"),
            recorded_at=datetime.now(UTC),
        )
        await messaging.ensure_stream(self.js, event.service)
        message = messaging.to_message(recorded, event.service)
        for _ in range(2):  # a duplicate publish: the stream keeps one, the consumer too
            await self.js.publish(message.subject, message.payload, headers=message.headers)


async def enroll_over_nats(publisher: Publisher, program_id: str, employee_id: str, role: str):
    record = EmployeeRecord(
        email=f"{employee_id}@example.com",
        given_name=employee_id,
        family_name="Test",
        department="Engineering",
        job_level=6 if role == "mentor" else 3,
        languages=["en"],
        timezone="Europe/Paris",
    )
    await publisher.publish(
        f"employee-{employee_id}", EmployeeProvisioned(employee_id=employee_id, record=record)
    )
    enrollment_id = unique("enr")
    await publisher.publish(
        f"enrollment-{enrollment_id}",
        ParticipantEnrolled(
            enrollment_id=enrollment_id,
            program_id=program_id,
            employee_id=employee_id,
            role=role,
            profile=Profile(skills_offered=["python"], skills_sought=["python"]),
            enrolled_on=TODAY,
        ),
    )
