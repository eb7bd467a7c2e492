"""Commands: load → decide → save in one transaction, retried on conflicts, idempotent."""

import asyncio
import uuid
from typing import ClassVar

import pytest
from sqlalchemy.exc import IntegrityError

from mentorship_contracts import EventContract, EventRegistry
from mentorship_kit.commands import CommandRunner, CommandTransaction
from mentorship_kit.db import create_engine
from mentorship_kit.eventstore import ConcurrencyConflictError, EventStore, RecordedEvent
from mentorship_kit.idempotency import (
    IdempotencyKeyReusedError,
    IdempotencyStore,
    StoredResponse,
    request_fingerprint,
)


class CounterIncremented(EventContract):
    service: ClassVar[str] = "testing"
    aggregate: ClassVar[str] = "counter"
    action: ClassVar[str] = "incremented"
    by: int


EVENTS = EventRegistry()
EVENTS.register(CounterIncremented)


def evolve(state: int | None, event: EventContract) -> int:
    assert isinstance(event, CounterIncremented)
    return (state or 0) + event.by


@pytest.fixture
async def store(database_url):
    engine = create_engine(database_url)
    store = EventStore(engine)
    await store.create_schema()
    yield store
    await engine.dispose()


def increment(stream_id: str, gate: asyncio.Event | None = None, read: asyncio.Event | None = None):
    async def use_case(tx: CommandTransaction) -> int:
        loaded = await tx.load(stream_id, evolve)
        if read is not None:
            read.set()
        if gate is not None:
            await gate.wait()
        await tx.append(stream_id, [CounterIncremented(by=1)], expected_version=loaded.version)
        return (loaded.state or 0) + 1

    return use_case


async def test_inline_handlers_see_the_new_events_in_the_same_transaction(store):
    seen: list[RecordedEvent] = []

    async def inline(_conn, event: RecordedEvent) -> None:
        seen.append(event)

    runner = CommandRunner(store, service="testing", inline=[inline], events=EVENTS)
    stream = f"counter-{uuid.uuid4()}"
    assert await runner.run(increment(stream)) == 1
    assert await runner.run(increment(stream)) == 2
    assert [e.stream_version for e in seen] == [1, 2]


async def test_a_conflicting_command_is_rerun_from_a_fresh_read(store):
    runner = CommandRunner(store, service="testing", events=EVENTS)
    stream = f"counter-{uuid.uuid4()}"
    results = await asyncio.gather(*(runner.run(increment(stream)) for _ in range(4)))
    assert sorted(results) == [1, 2, 3, 4]
    async with store.engine.connect() as conn:
        assert await store.stream_version(conn, stream) == 4


async def test_conflicts_beyond_the_retry_budget_reach_the_caller(pg_database_url):
    # PostgreSQL only: SQLite's BEGIN IMMEDIATE serialises whole commands, so a
    # command held open there simply makes the other wait — no conflict can arise.
    engine = create_engine(pg_database_url)
    store = EventStore(engine)
    await store.create_schema()
    runner = CommandRunner(store, service="testing", events=EVENTS, max_attempts=1)
    stream = f"counter-{uuid.uuid4()}"
    gate, read = asyncio.Event(), asyncio.Event()
    slow = asyncio.create_task(runner.run(increment(stream, gate, read)))
    # The slow command must have read version 0 before the other one commits version 1.
    await asyncio.wait_for(read.wait(), timeout=30)
    await runner.run(increment(stream))
    gate.set()
    with pytest.raises(ConcurrencyConflictError):
        await slow
    await engine.dispose()


async def test_a_failed_use_case_leaves_no_events(store):
    runner = CommandRunner(store, service="testing", events=EVENTS)
    stream = f"counter-{uuid.uuid4()}"

    async def failing(tx: CommandTransaction) -> None:
        await tx.append(stream, [CounterIncremented(by=5)], expected_version=0)
        raise RuntimeError

    with pytest.raises(RuntimeError):
        await runner.run(failing)
    assert await store.count() == 0


async def test_idempotency_replays_the_first_answer_and_refuses_a_different_body(store):
    keys = IdempotencyStore(store.metadata)
    runner = CommandRunner(store, service="testing", events=EVENTS)
    stream = f"counter-{uuid.uuid4()}"
    fingerprint = request_fingerprint("POST", "/v1/counters", b'{"by": 1}')

    async def save(tx: CommandTransaction, result: int) -> None:
        await keys.save(
            tx.conn,
            scope="emp-1",
            key="k1",
            fingerprint=fingerprint,
            response=StoredResponse(201, str(result).encode(), {}),
        )

    await runner.run(increment(stream), before_commit=save)
    async with store.engine.connect() as conn:
        stored = await keys.find(conn, scope="emp-1", key="k1", fingerprint=fingerprint)
        assert stored == StoredResponse(201, b"1", {})
        other = request_fingerprint("POST", "/v1/counters", b'{"by": 2}')
        with pytest.raises(IdempotencyKeyReusedError):
            await keys.find(conn, scope="emp-1", key="k1", fingerprint=other)
    with pytest.raises(IntegrityError):
        await runner.run(increment(stream), before_commit=save)
    async with store.engine.connect() as conn:
        assert await store.stream_version(conn, stream) == 1


def test_the_fingerprint_ignores_key_order_and_whitespace():
    a = request_fingerprint("POST", "/x", b'{"a": 1, "b": [1, 2]}')
    assert a == request_fingerprint("post", "/x", b'{"b":[1,2],"a":1}')
    assert a != request_fingerprint("POST", "/y", b'{"a": 1, "b": [1, 2]}')
