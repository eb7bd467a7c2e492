"""Shared by the analytics tests (service and e2e): events, publishing, a running app.

Contract events are turned into :class:`RecordedEvent` values with per-stream versions
(as the producers' event stores would number them) and published to JetStream the way
the relays publish (``messaging.to_message``), or appended to a real producer event
store. e2e tests load this module by path (importlib mode).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time

import httpx
import sqlalchemy as sa
from nats.js import JetStreamContext
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.adapters import tables
from analytics.config import AnalyticsSettings
from analytics.main import create_app
from mentorship_contracts import EventContract
from mentorship_kit import messaging
from mentorship_kit.auth import issue_dev_token
from mentorship_kit.db import create_engine
from mentorship_kit.eventstore import (
    EventMetadata,
    EventStore,
    NewEvent,
    RecordedEvent,
    kit_metadata,
)
from mentorship_kit.settings import DEFAULT_DEV_SECRET

FACT_TABLES = (
    tables.employees,
    tables.programs,
    tables.enrollments,
    tables.pairs,
    tables.sessions,
    tables.goals,
    tables.feedback,
    tables.checkins,
    tables.fit_checks,
)


def bearer(*roles: str, sub: str | None = None) -> dict[str, str]:
    token = issue_dev_token(DEFAULT_DEV_SECRET, roles=roles, sub=sub)
    return {"Authorization": f"Bearer {token}"}


ADMIN = bearer("admin")
MANAGER = bearer("program_manager")


def stream_id_of(event: EventContract) -> str:
    """The aggregate id, as the producers name their streams (``<aggregate>-<id>``)."""
    key = {
        "program": "program_id",
        "employee": "employee_id",
        "enrollment": "enrollment_id",
        "pair": "pair_id",
        "match_run": "run_id",
        "mentor_request": "request_id",
        "session": "session_id",
        "goal": "goal_id",
        "feedback": "feedback_id",
    }[event.aggregate]
    return f"{event.aggregate}-{getattr(event, key)}"


@dataclass
class EventLog:
    """Events of every source service, numbered per stream, in publication order."""

    events: dict[str, list[RecordedEvent]] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)

    def add(self, event: EventContract, *, at: datetime | None = None) -> RecordedEvent:
        stream_id = stream_id_of(event)
        version = self.versions.get(stream_id, 0) + 1
        self.versions[stream_id] = version
        recorded = RecordedEvent(
            position=0,
            tx_id=0,
            event_id=uuid.uuid4(),
            stream_type=event.aggregate,
            stream_id=stream_id,
            stream_version=version,
            event_type=event.event_type(),
            schema_version=event.schema_version,
            data=event.to_data(),
            metadata=EventMetadata(),
            recorded_at=at or datetime.now(UTC),
        )
        self.events.setdefault(event.service, []).append(recorded)
        return recorded

    def of(self, service: str) -> list[RecordedEvent]:
        return self.events.get(service, [])

    def count(self) -> int:
        return sum(len(events) for events in self.events.values())


def recorded_at(day: object) -> datetime:
    """A recording time on a business day (noon UTC), for deterministic back-dating."""
    return datetime.combine(day, time(12), tzinfo=UTC)  # type: ignore[arg-type]


async def publish(js: JetStreamContext, service: str, events: Iterable[RecordedEvent]) -> None:
    for event in events:
        message = messaging.to_message(event, service)
        await js.publish(message.subject, message.payload, headers=message.headers)


async def publish_all(js: JetStreamContext, log: EventLog) -> None:
    for service in log.events:
        await messaging.ensure_stream(js, service)
        await publish(js, service, log.of(service))


async def append_to_store(store: EventStore, events: Iterable[RecordedEvent]) -> None:
    """Append events to a producer's own store, keeping their ids (for its feed)."""
    async with store.transaction() as conn:
        for event in events:
            await store.append(
                conn,
                [
                    NewEvent(
                        stream_type=event.stream_type,
                        stream_id=event.stream_id,
                        event_type=event.event_type,
                        data=event.data,
                        schema_version=event.schema_version,
                        event_id=event.event_id,
                    )
                ],
                expected_version=event.stream_version - 1,
            )


def settings(database_url: str, nats_url: str, **overrides: object) -> AnalyticsSettings:
    values: dict[str, object] = {
        "dev_mode": True,
        "database_url": database_url,
        "nats_url": nats_url,
        "log_level": "WARNING",
        "log_json": False,
        "analytics_pause_poll_seconds": 0.2,
        **overrides,
    }
    return AnalyticsSettings(**values)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def running_app(
    database_url: str, nats_url: str, **overrides: object
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings(database_url, nats_url, **overrides))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://analytics.test"
        ) as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


async def fact_rows(engine: object) -> dict[str, list[tuple[object, ...]]]:
    """Every fact table, row by row, ordered by primary key."""
    async with engine.connect() as conn:  # type: ignore[attr-defined]
        return {
            table.name: [
                tuple(row)
                for row in await conn.execute(sa.select(table).order_by(*table.primary_key.columns))
            ]
            for table in FACT_TABLES
        }


async def consumers(client: httpx.AsyncClient) -> dict[str, dict[str, object]]:
    answer = await client.get("/v1/admin/consumers", headers=ADMIN)
    answer.raise_for_status()
    return {item["source"]: item for item in answer.json()["items"]}


def service_env(database_url: str, nats_url: str, **extra: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "NATS_URL": nats_url,
        "DEV_MODE": "true",
        "LOG_LEVEL": "WARNING",
        "ANALYTICS_PAUSE_POLL_SECONDS": "0.2",
        **extra,
    }


def engine_for(database_url: str) -> AsyncEngine:
    return create_engine(database_url)


async def applied_versions(database_url: str) -> dict[str, int]:
    """Each aggregate's last version claimed by the analytics consumers."""
    streams = kit_metadata().tables["consumer_streams"]
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            query = sa.select(streams.c.stream_id, streams.c.stream_version).where(
                streams.c.consumer.like("analytics-%")
            )
            return {row.stream_id: row.stream_version for row in await conn.execute(query)}
    finally:
        await engine.dispose()
