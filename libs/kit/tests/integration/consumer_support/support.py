"""Shared by the consumer and projection tests and by the crash-test subprocess.

The "effect" of handling an event is a row in ``effect_log`` (no unique key on purpose:
an event handled twice shows up twice) and a per-stream counter in ``effect_counts``.
Test events are published straight to JetStream the way the relay would publish them
(``messaging.to_message``), so these tests do not depend on the relay.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime

import sqlalchemy as sa
from nats.js import JetStreamContext
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mentorship_contracts import CloudEvent
from mentorship_kit import messaging
from mentorship_kit.consumer import ConsumerRuntime
from mentorship_kit.eventstore import EventMetadata, RecordedEvent, kit_metadata
from mentorship_kit.messaging import OutgoingMessage, to_cloudevent

SERVICE = "thingsvc"

metadata = kit_metadata()
effect_log = sa.Table(
    "effect_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("consumer", sa.String(100), nullable=False),
    sa.Column("event_id", sa.String(64), nullable=False),
    sa.Column("stream_id", sa.String(200), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
)
effect_counts = sa.Table(
    "effect_counts",
    metadata,
    sa.Column("consumer", sa.String(100), primary_key=True),
    sa.Column("stream_id", sa.String(200), primary_key=True),
    sa.Column("handled", sa.Integer, nullable=False),
)


async def create_schema(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)


def effect_recorder(consumer: str):
    """A handler whose effect on the database is visible and counts repetitions."""

    async def record(conn: AsyncConnection, event: CloudEvent) -> None:
        await conn.execute(
            effect_log.insert().values(
                consumer=consumer,
                event_id=event.id,
                stream_id=event.subject,
                version=event.streamversion,
            )
        )
        insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        stmt = insert(effect_counts).values(consumer=consumer, stream_id=event.subject, handled=1)
        await conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["consumer", "stream_id"],
                set_={"handled": effect_counts.c.handled + 1},
            )
        )

    return record


async def effects(engine: AsyncEngine, consumer: str) -> list[sa.Row]:
    async with engine.connect() as conn:
        query = (
            sa.select(effect_log.c.event_id, effect_log.c.stream_id, effect_log.c.version)
            .where(effect_log.c.consumer == consumer)
            .order_by(effect_log.c.id)
        )
        return list((await conn.execute(query)).all())


async def effect_count(engine: AsyncEngine, consumer: str) -> int:
    async with engine.connect() as conn:
        query = sa.select(sa.func.count()).where(effect_log.c.consumer == consumer)
        return int((await conn.execute(query)).scalar_one())


def recorded(
    stream_id: str,
    version: int,
    *,
    n: int = 0,
    event_type: str = "ThingHappened",
    traceparent: str | None = None,
) -> RecordedEvent:
    return RecordedEvent(
        position=0,
        tx_id=0,
        event_id=uuid.uuid4(),
        stream_type="thing",
        stream_id=stream_id,
        stream_version=version,
        event_type=event_type,
        schema_version=1,
        data={"n": n},
        metadata=EventMetadata(traceparent=traceparent),
        recorded_at=datetime.now(UTC),
    )


def streams_of(count: int, versions: int) -> list[RecordedEvent]:
    """``versions`` events for each of ``count`` streams, interleaved as writers would."""
    ids = [f"thing-{uuid.uuid4()}" for _ in range(count)]
    return [
        recorded(stream, version, n=version) for version in range(1, versions + 1) for stream in ids
    ]


def cloudevent(event: RecordedEvent) -> CloudEvent:
    return to_cloudevent(event, SERVICE)


def to_message(event: RecordedEvent) -> OutgoingMessage:
    return messaging.to_message(event, SERVICE)


async def publish(js: JetStreamContext, events: Iterable[RecordedEvent]) -> None:
    for event in events:
        message = to_message(event)
        await js.publish(message.subject, message.payload, headers=message.headers)


@contextlib.asynccontextmanager
async def running(runtime: ConsumerRuntime) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(runtime.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
