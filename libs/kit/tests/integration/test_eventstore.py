"""The event store on both backends: concurrency, idempotency, reading back."""

import asyncio
import uuid

import pytest

from mentorship_kit.db import create_engine, transaction_driver
from mentorship_kit.eventstore import (
    ANY_VERSION,
    NO_STREAM,
    ConcurrencyConflictError,
    DuplicateEventError,
    EventMetadata,
    EventStore,
    NewEvent,
)
from mentorship_kit.testing import temporary_postgres_database


def _event(stream_id: str, n: int = 0, **kw) -> NewEvent:
    return NewEvent(
        stream_type="thing", stream_id=stream_id, event_type="ThingHappened", data={"n": n}, **kw
    )


@pytest.fixture
async def store(database_url):
    engine = create_engine(database_url)
    store = EventStore(engine)
    await store.create_schema()
    yield store
    await engine.dispose()


async def test_append_then_read_stream_back_in_order(store):
    stream = f"thing-{uuid.uuid4()}"
    meta = EventMetadata(correlation_id="c1", actor="emp-1", actor_role="admin")
    async with store.transaction() as conn:
        stored = await store.append(
            conn, [_event(stream, 1), _event(stream, 2)], expected_version=NO_STREAM, metadata=meta
        )
    assert [e.stream_version for e in stored] == [1, 2]
    async with store.engine.connect() as conn:
        back = await store.read_stream(conn, stream)
    assert [e.data["n"] for e in back] == [1, 2]
    assert back[0].metadata == meta
    assert back[0].recorded_at.tzinfo is not None


async def test_two_concurrent_appends_at_the_same_version_one_wins(store):
    stream = f"thing-{uuid.uuid4()}"
    async with store.transaction() as conn:
        await store.append(conn, [_event(stream)], expected_version=NO_STREAM)

    async def attempt(n: int) -> str:
        try:
            async with store.transaction() as conn:
                await store.append(conn, [_event(stream, n)], expected_version=1)
        except ConcurrencyConflictError:
            return "conflict"
        return "won"

    outcomes = await asyncio.gather(attempt(1), attempt(2))
    assert sorted(outcomes) == ["conflict", "won"]
    async with store.engine.connect() as conn:
        assert await store.stream_version(conn, stream) == 2


async def test_stale_expected_version_is_a_typed_conflict(store):
    stream = f"thing-{uuid.uuid4()}"
    async with store.transaction() as conn:
        await store.append(conn, [_event(stream), _event(stream)], expected_version=NO_STREAM)
    with pytest.raises(ConcurrencyConflictError) as caught:
        async with store.transaction() as conn:
            await store.append(conn, [_event(stream)], expected_version=1)
    assert caught.value.stream_id == stream


async def test_appending_the_same_event_ids_again_changes_nothing(store):
    stream = f"thing-{uuid.uuid4()}"
    events = [_event(stream, 1), _event(stream, 2)]
    async with store.transaction() as conn:
        first = await store.append(conn, events, expected_version=NO_STREAM)
    async with store.transaction() as conn:
        again = await store.append(conn, events, expected_version=NO_STREAM)
    assert again == first
    assert await store.count() == 2


async def test_appending_one_event_again_changes_nothing(store):
    # One event takes another statement than several on PostgreSQL.
    event = _event(f"thing-{uuid.uuid4()}", 1)
    async with store.transaction() as conn:
        first = await store.append(conn, [event], expected_version=NO_STREAM)
    async with store.transaction() as conn:
        again = await store.append(conn, [event], expected_version=NO_STREAM)
    assert again == first
    assert await store.count() == 1


@pytest.mark.parametrize("count", [1, 3])
async def test_an_append_returns_its_data_as_a_read_gives_it_back(store, count):
    # PostgreSQL's jsonb keeps its own key order: what an inline projection is handed
    # must be what a rebuild from the store reads, down to the order of the keys.
    stream = f"thing-{uuid.uuid4()}"
    data = {"zebra": 1, "a": {"yy": 2, "b": [3]}, "mid": None}
    events = [
        NewEvent(stream_type="thing", stream_id=stream, event_type="ThingHappened", data=data)
        for _ in range(count)
    ]
    meta = EventMetadata(correlation_id="c1", actor="emp-1", actor_role="admin")
    async with store.transaction() as conn:
        appended = await store.append(conn, events, expected_version=NO_STREAM, metadata=meta)
    async with store.engine.connect() as conn:
        read = await store.read_stream(conn, stream)

    assert appended == read
    assert [list(e.data) for e in appended] == [list(e.data) for e in read]
    assert [list(e.data["a"]) for e in appended] == [list(e.data["a"]) for e in read]


async def test_an_event_id_reused_for_another_stream_is_refused(store):
    event = _event(f"thing-{uuid.uuid4()}")
    async with store.transaction() as conn:
        await store.append(conn, [event], expected_version=NO_STREAM)
    impostor = NewEvent(
        stream_type="thing",
        stream_id=f"thing-{uuid.uuid4()}",
        event_type="ThingHappened",
        data={},
        event_id=event.event_id,
    )
    with pytest.raises(DuplicateEventError):
        async with store.transaction() as conn:
            await store.append(conn, [impostor], expected_version=NO_STREAM)


async def test_any_version_appends_at_the_end(store):
    stream = f"thing-{uuid.uuid4()}"
    for n in range(3):
        async with store.transaction() as conn:
            await store.append(conn, [_event(stream, n)], expected_version=ANY_VERSION)
    async with store.engine.connect() as conn:
        assert await store.stream_version(conn, stream) == 3


async def test_read_all_pages_through_every_event_once_in_order(store):
    streams = [f"thing-{uuid.uuid4()}" for _ in range(5)]
    for n in range(4):
        for stream in streams:
            async with store.transaction() as conn:
                await store.append(conn, [_event(stream, n)], expected_version=n)
    seen = [e async for e in store.iterate_all(page_size=3)]
    assert len(seen) == 20
    assert len({e.event_id for e in seen}) == 20
    checkpoints = [e.checkpoint for e in seen]
    assert checkpoints == sorted(checkpoints)
    assert await store.head() == checkpoints[-1]
    for stream in streams:
        assert [e.stream_version for e in seen if e.stream_id == stream] == [1, 2, 3, 4]


async def test_a_rolled_back_transaction_leaves_nothing(store):
    stream = f"thing-{uuid.uuid4()}"

    async def append_then_fail() -> None:
        async with store.transaction() as conn:
            await store.append(conn, [_event(stream)], expected_version=NO_STREAM)
            raise RuntimeError

    with pytest.raises(RuntimeError):
        await append_then_fail()
    assert await store.count() == 0


async def test_bulk_append_and_read_of_many_streams(store):
    streams = [f"thing-{uuid.uuid4()}" for _ in range(300)]
    batches = [([_event(s, 1), _event(s, 2)], 0) for s in streams]
    async with store.transaction() as conn:
        stored = await store.append_many(conn, batches)
    assert len(stored) == 600
    async with store.engine.connect() as conn:
        back = await store.read_streams(conn, [*streams, "thing-missing"])
    assert back["thing-missing"] == []
    assert all([e.stream_version for e in back[s]] == [1, 2] for s in streams)


async def test_a_bulk_append_is_all_or_nothing_on_conflict(store):
    taken = f"thing-{uuid.uuid4()}"
    async with store.transaction() as conn:
        await store.append(conn, [_event(taken)], expected_version=NO_STREAM)
    fresh = f"thing-{uuid.uuid4()}"
    with pytest.raises(ConcurrencyConflictError):
        async with store.transaction() as conn:
            await store.append_many(conn, [([_event(fresh)], 0), ([_event(taken)], 0)])
    assert await store.count() == 1


async def test_an_open_transaction_elsewhere_on_the_server_does_not_hold_events_back(
    pg_database_url,
):
    """Only this database's running transactions bound what a reader may see."""
    engine = create_engine(pg_database_url)
    store = EventStore(engine)
    await store.create_schema()
    async with temporary_postgres_database() as other_url:
        other = create_engine(other_url)
        async with other.connect() as elsewhere:
            # A writing transaction in another database of the same server, left open.
            await elsewhere.exec_driver_sql("CREATE TABLE t (x int)")
            await elsewhere.exec_driver_sql("INSERT INTO t VALUES (1)")
            async with store.transaction() as conn:
                await store.append(conn, [_event(f"thing-{uuid.uuid4()}")], expected_version=0)
            assert len(await store.read_all()) == 1
            await elsewhere.rollback()
        await other.dispose()
    await engine.dispose()


async def test_an_open_transaction_here_holds_later_events_back_until_it_ends(pg_database_url):
    engine = create_engine(pg_database_url)
    store = EventStore(engine)
    await store.create_schema()
    first = _event(f"thing-{uuid.uuid4()}", 1)
    async with engine.connect() as slow:
        await slow.begin()
        # The slow writer takes its transaction id first and commits last.
        await store.append(slow, [first], expected_version=0)
        second = _event(f"thing-{uuid.uuid4()}", 2)
        async with store.transaction() as conn:
            await store.append(conn, [second], expected_version=0)
        assert await store.read_all() == []
        await slow.commit()
    seen = await store.read_all()
    assert [e.event_id for e in seen] == [first.event_id, second.event_id]
    await engine.dispose()


async def test_the_bare_driver_runs_inside_the_transaction_sqlalchemy_ends(pg_database_url):
    """transaction_driver opens the transaction SQLAlchemy has not sent yet: what runs on
    the driver is rolled back or committed with it, and nothing else is sent first."""
    engine = create_engine(pg_database_url)
    try:
        async with engine.begin() as conn:
            await conn.exec_driver_sql("CREATE TABLE bare (x int)")

        async with engine.connect() as conn, conn.begin() as tx:
            driver = await transaction_driver(conn)
            assert driver.is_in_transaction()
            await driver.execute("INSERT INTO bare VALUES (1)")
            await tx.rollback()
        async with engine.begin() as conn:
            driver = await transaction_driver(conn)
            await driver.execute("INSERT INTO bare VALUES (2)")
            assert await transaction_driver(conn) is driver  # the transaction goes on
        async with engine.connect() as conn:
            rows = (await conn.exec_driver_sql("SELECT x FROM bare")).all()
        assert [tuple(row) for row in rows] == [(2,)]
    finally:
        await engine.dispose()
