"""The sessions service run through its lifespan against a real database (SQLite and
PostgreSQL) and a real nats-server; pairs arrive as matching's events would."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from nats.js import JetStreamContext
from sqlalchemy.ext.asyncio import AsyncEngine

from mentorship_contracts import CloudEvent, EventContract
from mentorship_contracts.enrollment import ProgramCreated, ProgramSettings
from mentorship_contracts.matching import PairEnded, PairFormed
from mentorship_kit import messaging
from mentorship_kit.app import create_app
from mentorship_kit.auth import issue_dev_token
from mentorship_kit.eventstore import EventMetadata, RecordedEvent
from mentorship_kit.settings import DEFAULT_DEV_SECRET, ServiceSettings
from sessions.adapters.registry import PairRegistry, ProgramCalendars
from sessions.bootstrap import build_spec

TODAY = datetime.now(UTC).date()


def bearer(role: str, sub: str | None = None) -> dict[str, str]:
    token = issue_dev_token(DEFAULT_DEV_SECRET, role=role, sub=sub)
    return {"Authorization": f"Bearer {token}"}


def cloud_event(event: EventContract, stream_id: str, version: int) -> CloudEvent:
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
    )


def program_settings(starts_on: date, ends_on: date | None, cadence_days: int) -> ProgramSettings:
    return ProgramSettings(
        name="Pilot",
        objective="retention",
        formats=["one_to_one"],
        tracks=[],
        starts_on=starts_on,
        ends_on=ends_on,
        cadence_days=cadence_days,
        mentor_capacity=2,
        approval="auto",
    )


@dataclass
class Pair:
    pair_id: str
    program_id: str
    mentor_id: str
    mentee_id: str
    mentor: dict[str, str] = field(default_factory=dict)
    mentee: dict[str, str] = field(default_factory=dict)

    def members(self) -> dict[str, str]:
        return {"pair_id": self.pair_id, "program_id": self.program_id,
                "mentor_id": self.mentor_id, "mentee_id": self.mentee_id}  # fmt: skip


@dataclass
class Harness:
    app: FastAPI
    client: httpx.AsyncClient
    admin: dict[str, str] = field(default_factory=lambda: bearer("admin"))
    stranger: dict[str, str] = field(
        default_factory=lambda: bearer("participant", f"stranger-{uuid.uuid4().hex[:8]}")
    )

    @property
    def engine(self) -> AsyncEngine:
        return self.app.state.context.engine

    async def program(
        self,
        *,
        starts_on: date = TODAY - timedelta(days=365),
        ends_on: date | None = TODAY + timedelta(days=365),
        cadence_days: int = 14,
    ) -> str:
        program_id = f"prog-{uuid.uuid4().hex[:8]}"
        created = ProgramCreated(
            program_id=program_id, settings=program_settings(starts_on, ends_on, cadence_days)
        )
        async with self.engine.begin() as conn:
            await ProgramCalendars().handle(conn, cloud_event(created, f"program-{program_id}", 1))
        return program_id

    async def pair(self, program_id: str | None = None, *, formed_on: date = TODAY) -> Pair:
        program_id = program_id or await self.program()
        suffix = uuid.uuid4().hex[:8]
        pair = Pair(f"pair-{suffix}", program_id, f"mentor-{suffix}", f"mentee-{suffix}")
        pair.mentor = bearer("participant", pair.mentor_id)
        pair.mentee = bearer("participant", pair.mentee_id)
        formed = PairFormed(**pair.members(), format="one_to_one", formed_on=formed_on)
        async with self.engine.begin() as conn:
            await PairRegistry().handle(conn, cloud_event(formed, pair.pair_id, 1))
        return pair

    async def end(self, pair: Pair) -> None:
        ended = PairEnded(**pair.members(), reason="completed", ended_by=None, ended_on=TODAY)
        async with self.engine.begin() as conn:
            await PairRegistry().handle(conn, cloud_event(ended, pair.pair_id, 2))


def build_app(database_url: str, nats_url: str) -> FastAPI:
    settings = ServiceSettings(
        dev_mode=True, database_url=database_url, nats_url=nats_url, log_level="WARNING"
    )
    return create_app(build_spec(), settings)


@pytest.fixture
async def service(database_url, nats_server) -> AsyncIterator[Harness]:
    app = build_app(database_url, nats_server.url)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield Harness(app, client)


def recorded(event: EventContract, stream_id: str, version: int) -> RecordedEvent:
    """``event`` as another service's event store would have recorded it."""
    return RecordedEvent(
        position=version,
        tx_id=0,
        event_id=uuid.uuid4(),
        stream_type=event.aggregate,
        stream_id=stream_id,
        stream_version=version,
        event_type=event.event_type(),
        schema_version=event.schema_version,
        data=event.to_data(),
        metadata=EventMetadata(),
        recorded_at=datetime.now(UTC),
    )


async def publish(js: JetStreamContext, event: RecordedEvent, service: str) -> None:
    """Publish as that service's relay does (CloudEvent headers, Nats-Msg-Id)."""
    await messaging.ensure_stream(js, service)
    message = messaging.to_message(event, service)
    await js.publish(message.subject, message.payload, headers=message.headers)
