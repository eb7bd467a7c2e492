"""Values that go into and come out of the event store."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from mentorship_contracts import EventContract


class _AnyVersion:
    """Sentinel: append without checking the stream's current version."""

    def __repr__(self) -> str:
        return "ANY_VERSION"


ANY_VERSION: Final = _AnyVersion()
NO_STREAM: Final = 0
ExpectedVersion = int | _AnyVersion


@dataclass(frozen=True, slots=True)
class EventMetadata:
    """Who and what caused an event; carried to every consumer and into traces."""

    correlation_id: str | None = None
    causation_id: str | None = None
    actor: str | None = None
    actor_role: str | None = None
    traceparent: str | None = None

    def to_dict(self) -> dict[str, str]:
        return {k: v for k, v in _metadata_items(self) if v is not None}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None) -> EventMetadata:
        raw = raw or {}
        return cls(**{k: raw.get(k) for k in cls.__slots__})


def _metadata_items(meta: EventMetadata) -> list[tuple[str, str | None]]:
    return [(name, getattr(meta, name)) for name in EventMetadata.__slots__]


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event decided by an aggregate, not yet stored."""

    stream_type: str
    stream_id: str
    event_type: str
    data: Mapping[str, Any]
    schema_version: int = 1
    event_id: uuid.UUID = field(default_factory=uuid.uuid4)

    @classmethod
    def from_contract(
        cls,
        stream_id: str,
        event: EventContract,
        *,
        event_id: uuid.UUID | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> NewEvent:
        """``data`` replaces the event's own (its personal fields sealed, for one)."""
        return cls(
            stream_type=event.aggregate,
            stream_id=stream_id,
            event_type=event.event_type(),
            schema_version=event.schema_version,
            data=event.to_data() if data is None else data,
            event_id=event_id or uuid.uuid4(),
        )


@dataclass(frozen=True, slots=True, order=True)
class Checkpoint:
    """A place in the global, commit-safe order: (transaction id, position).

    On PostgreSQL events are read in (tx_id, position) order and only from transactions
    older than every transaction still running, so a reader that resumes after a
    checkpoint can never skip an event that committed late (the gap trap). On SQLite,
    which has one writer, tx_id is always 0 and the order is the position.
    """

    tx_id: int = 0
    position: int = 0

    def encode(self) -> str:
        return f"{self.tx_id}-{self.position}"

    @classmethod
    def decode(cls, token: str) -> Checkpoint:
        """Parse a cursor made by :meth:`encode`; ValueError when it is malformed."""
        tx_text, sep, pos_text = token.partition("-")
        if not sep or not tx_text.isdigit() or not pos_text.isdigit():
            msg = f"malformed checkpoint {token!r}"
            raise ValueError(msg)
        return cls(int(tx_text), int(pos_text))


START: Final = Checkpoint()


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """An event as stored: immutable, with its place in its stream and globally."""

    position: int
    tx_id: int
    event_id: uuid.UUID
    stream_type: str
    stream_id: str
    stream_version: int
    event_type: str
    schema_version: int
    data: Mapping[str, Any]
    metadata: EventMetadata
    recorded_at: datetime

    @property
    def checkpoint(self) -> Checkpoint:
        return Checkpoint(self.tx_id, self.position)

    def with_data(self, data: Mapping[str, Any]) -> RecordedEvent:
        """The same event with other data (opened or sealed personal fields).

        What ``dataclasses.replace`` does, without its per-field introspection: bulk
        commands call it once per event.
        """
        return RecordedEvent(
            self.position,
            self.tx_id,
            self.event_id,
            self.stream_type,
            self.stream_id,
            self.stream_version,
            self.event_type,
            self.schema_version,
            data,
            self.metadata,
            self.recorded_at,
        )
