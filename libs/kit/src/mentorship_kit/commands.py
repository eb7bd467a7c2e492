"""Running a command: load → decide → save, in one transaction, retried on conflict.

A use case receives a :class:`CommandTransaction`. It loads the aggregates it needs
(replaying their streams), lets the pure domain decide, and appends the resulting
contract events with the version it loaded as the expected version. Inline projections
(the service's query tables) see the new events in the same transaction, so a query
never disagrees with the event store. When another writer moved a stream first, the
whole command is run again from a fresh read, a bounded number of times; after that the
conflict reaches the caller (HTTP 409).

Personal data: with a :class:`~mentorship_kit.personal.PersonalDataVault`, the personal
fields of appended events are sealed before they are stored (and so before they are
published), and opened again when a stream is loaded. Inline projections get the events
as decided, in clear: they are the service's own query tables, and they drop a
subject's personal data when the subject is erased.

Ordering rule (it keeps the relay's global order per-stream correct on PostgreSQL): load
every stream before the first append in a transaction. A transaction's id is assigned at
its first write, so writing first and reading a stream later could give the later event
of that stream the smaller transaction id.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import structlog
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncConnection

from mentorship_contracts import EventContract, EventRegistry, registry
from mentorship_kit.db import begin
from mentorship_kit.eventstore import (
    ConcurrencyConflictError,
    EventMetadata,
    EventStore,
    ExpectedVersion,
    NewEvent,
    RecordedEvent,
)
from mentorship_kit.personal import PersonalDataVault

log = structlog.get_logger(__name__)

S = TypeVar("S")
T = TypeVar("T")

InlineHandler = Callable[[AsyncConnection, RecordedEvent], Awaitable[None]]
Evolve = Callable[[S | None, EventContract], S]

COMMAND_RETRIES = Counter(
    "command_conflict_retries_total",
    "Commands run again because a stream moved between read and append.",
    ["service"],
)


@dataclass(frozen=True, slots=True)
class Loaded(Generic[S]):
    """An aggregate's state folded from its stream, and the version it was read at."""

    state: S | None
    version: int

    @property
    def exists(self) -> bool:
        return self.version > 0


@dataclass
class CommandTransaction:
    """What a use case may do inside its transaction."""

    conn: AsyncConnection
    store: EventStore
    metadata: EventMetadata
    events: EventRegistry
    inline: Sequence[InlineHandler]
    vault: PersonalDataVault | None = None
    appended: list[RecordedEvent] = field(default_factory=list)

    async def load(self, stream_id: str, evolve: Evolve[S]) -> Loaded[S]:
        """Fold the stream's events (upcast to current versions) into a state."""
        recorded = await self.store.read_stream(self.conn, stream_id)
        state: S | None = None
        for event, data in zip(recorded, await self._opened(recorded), strict=True):
            state = evolve(state, self.events.parse(event.event_type, event.schema_version, data))
        return Loaded(state, recorded[-1].stream_version if recorded else 0)

    async def load_many(self, stream_ids: Sequence[str], evolve: Evolve[S]) -> dict[str, Loaded[S]]:
        """Fold several streams at once (bulk commands); missing streams load empty."""
        streams = await self.store.read_streams(self.conn, stream_ids)
        opened = iter(await self._opened([e for events in streams.values() for e in events]))
        loaded: dict[str, Loaded[S]] = {}
        for stream_id, recorded in streams.items():
            state: S | None = None
            for event in recorded:
                state = evolve(
                    state, self.events.parse(event.event_type, event.schema_version, next(opened))
                )
            loaded[stream_id] = Loaded(state, recorded[-1].stream_version if recorded else 0)
        return loaded

    async def _opened(self, recorded: Sequence[RecordedEvent]) -> list[Mapping[str, Any]]:
        if self.vault is None:
            return [event.data for event in recorded]
        return await self.vault.open(self.conn, [(e.event_type, e.data) for e in recorded])

    async def _stored_data(
        self, events: Sequence[EventContract]
    ) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
        """(each event's data in clear, the same with personal fields sealed)."""
        clear: list[Mapping[str, Any]] = [event.to_data() for event in events]
        if self.vault is None:
            return clear, clear
        return clear, await self.vault.seal(self.conn, events, clear)

    async def _project(
        self, recorded: Sequence[RecordedEvent], clear: Mapping[uuid.UUID, Mapping[str, Any]]
    ) -> None:
        """Feed the inline projections the stored events with their data in clear."""
        for stored in recorded:
            event = stored if self.vault is None else stored.with_data(clear[stored.event_id])
            for handler in self.inline:
                await handler(self.conn, event)
        self.appended.extend(recorded)

    async def append_many(
        self, decisions: Sequence[tuple[str, Sequence[EventContract], int]]
    ) -> list[RecordedEvent]:
        """Append ``(stream id, events, expected version)`` for many streams in one go."""
        decided = [event for _, events, _ in decisions for event in events]
        clear, sealed = await self._stored_data(decided)
        stored = iter(sealed)
        batches = [
            (
                [NewEvent.from_contract(stream_id, e, data=next(stored)) for e in events],
                version,
            )
            for stream_id, events, version in decisions
            if events
        ]
        recorded = await self.store.append_many(self.conn, batches, metadata=self.metadata)
        new = [n.event_id for batch, _ in batches for n in batch]
        await self._project(recorded, dict(zip(new, clear, strict=True)))
        return recorded

    async def append(
        self,
        stream_id: str,
        events: Sequence[EventContract],
        *,
        expected_version: ExpectedVersion,
        event_ids: Sequence[uuid.UUID] | None = None,
    ) -> list[RecordedEvent]:
        """Append decided events and feed them to the inline projections."""
        ids = list(event_ids) if event_ids is not None else [uuid.uuid4() for _ in events]
        clear, sealed = await self._stored_data(events)
        new = [
            NewEvent.from_contract(stream_id, event, event_id=event_id, data=data)
            for event, event_id, data in zip(events, ids, sealed, strict=True)
        ]
        recorded = await self.store.append(
            self.conn, new, expected_version=expected_version, metadata=self.metadata
        )
        await self._project(recorded, dict(zip(ids, clear, strict=True)))
        return recorded


UseCase = Callable[[CommandTransaction], Awaitable[T]]


class CommandRunner:
    """Runs use cases transactionally for one service; the only owner of commits."""

    def __init__(
        self,
        store: EventStore,
        *,
        service: str,
        inline: Sequence[InlineHandler] = (),
        events: EventRegistry | None = None,
        max_attempts: int = 5,
        vault: PersonalDataVault | None = None,
    ) -> None:
        self.store = store
        self.service = service
        self.vault = vault
        self.inline = tuple(inline)
        self.events = events or registry()
        self.max_attempts = max_attempts

    async def run(
        self,
        use_case: UseCase[T],
        *,
        metadata: EventMetadata | None = None,
        before_commit: Callable[[CommandTransaction, T], Awaitable[None]] | None = None,
    ) -> T:
        """Run ``use_case`` in a transaction; retry from scratch on a version conflict.

        ``before_commit`` runs in the same transaction after the use case (the
        idempotency record is written there, so it commits with the events).
        """
        meta = metadata or EventMetadata()
        for attempt in range(1, self.max_attempts + 1):
            try:
                async with begin(self.store.engine) as conn:
                    tx = CommandTransaction(
                        conn, self.store, meta, self.events, self.inline, self.vault
                    )
                    result = await use_case(tx)
                    if before_commit is not None:
                        await before_commit(tx, result)
            except ConcurrencyConflictError as conflict:
                if attempt == self.max_attempts:
                    raise
                COMMAND_RETRIES.labels(self.service).inc()
                log.info("command.conflict_retry", stream_id=conflict.stream_id, attempt=attempt)
                continue
            if tx.appended:
                await self.store.notify()
            return result
        msg = "unreachable: the loop returns or raises"
        raise AssertionError(msg)
