"""The event store: append-only, optimistic concurrency, commit-safe global order."""

from mentorship_kit.eventstore.errors import ConcurrencyConflictError, DuplicateEventError
from mentorship_kit.eventstore.store import EventStore
from mentorship_kit.eventstore.tables import kit_metadata
from mentorship_kit.eventstore.types import (
    ANY_VERSION,
    NO_STREAM,
    START,
    Checkpoint,
    EventMetadata,
    ExpectedVersion,
    NewEvent,
    RecordedEvent,
)

__all__ = [
    "ANY_VERSION",
    "NO_STREAM",
    "START",
    "Checkpoint",
    "ConcurrencyConflictError",
    "DuplicateEventError",
    "EventMetadata",
    "EventStore",
    "ExpectedVersion",
    "NewEvent",
    "RecordedEvent",
    "kit_metadata",
]
