"""The audit trail of a subscription: local events in the analytics event store.

Subscriptions are kept in a plain table (their current state, which the consumers and
the delivery worker query); every change to one is also appended, in the same
transaction, to the stream ``webhook-<id>`` of the analytics event store, with the
actor who made it (or ``system`` for automatic disabling). These event types are
local to the analytics service: they are not platform contracts (the registry does not
know them, so no one can subscribe to them), the secret is never in them, and the
analytics relay publishes them like any stored event (subject
``mentorship.analytics.webhook.<event>``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncConnection

from mentorship_kit.eventstore import (
    ANY_VERSION,
    EventMetadata,
    EventStore,
    NewEvent,
    RecordedEvent,
)

STREAM_TYPE: Final = "webhook"
SYSTEM_ACTOR: Final = "system"


class AuditEvent(StrEnum):
    SUBSCRIBED = "WebhookSubscribed"
    CHANGED = "WebhookChanged"
    PAUSED = "WebhookPaused"
    RESUMED = "WebhookResumed"
    DISABLED = "WebhookDisabled"
    DELETED = "WebhookDeleted"
    REDELIVERY_REQUESTED = "WebhookRedeliveryRequested"


def stream_id(subscription_id: str) -> str:
    return f"{STREAM_TYPE}-{subscription_id}"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    event_id: str
    event_type: str
    at: datetime
    version: int
    actor: str | None
    actor_role: str | None
    data: Mapping[str, Any]

    @classmethod
    def of(cls, event: RecordedEvent) -> AuditEntry:
        return cls(
            event_id=str(event.event_id),
            event_type=event.event_type,
            at=event.recorded_at,
            version=event.stream_version,
            actor=event.metadata.actor,
            actor_role=event.metadata.actor_role,
            data=event.data,
        )


async def record(
    store: EventStore,
    conn: AsyncConnection,
    subscription_id: str,
    event: AuditEvent,
    *,
    data: Mapping[str, Any],
    metadata: EventMetadata,
) -> RecordedEvent:
    """Append one audit event to the subscription's stream (in ``conn``'s transaction).

    Callers hold the subscription row locked (or create it), which orders the writers
    of one stream; ANY_VERSION then appends after whatever is there.
    """
    new = NewEvent(
        stream_type=STREAM_TYPE,
        stream_id=stream_id(subscription_id),
        event_type=event.value,
        data=dict(data),
        event_id=uuid.uuid4(),
    )
    recorded = await store.append(conn, [new], expected_version=ANY_VERSION, metadata=metadata)
    return recorded[0]


async def history(
    store: EventStore,
    conn: AsyncConnection,
    subscription_id: str,
    *,
    after_version: int,
    limit: int,
) -> list[AuditEntry]:
    """Up to ``limit`` entries after ``after_version``, oldest first."""
    events = await store.read_stream(conn, stream_id(subscription_id), after_version=after_version)
    return [AuditEntry.of(event) for event in events[:limit]]
