"""Leader locks on both backends: one holder per name, waiting, and losing the lock."""

import asyncio
import uuid

import pytest
import sqlalchemy as sa

from mentorship_kit.db import create_engine
from mentorship_kit.leader import LeadershipLostError, leader_lock, lock_key, run_as_leader
from mentorship_kit.testing import wait_until


@pytest.fixture
async def engine(database_url):
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def pg_engine(pg_database_url):
    engine = create_engine(pg_database_url)
    yield engine
    await engine.dispose()


async def test_one_holder_per_name_until_it_releases(engine):
    name = f"worker-{uuid.uuid4()}"
    first, second = leader_lock(engine, name), leader_lock(engine, name)
    other = leader_lock(engine, f"{name}-other")
    try:
        assert await first.try_acquire()
        assert not await second.try_acquire()
        assert await other.try_acquire()  # another name is another lock

        await first.release()

        assert await second.try_acquire()
        assert second.held
        assert not first.held
    finally:
        for lock in (first, second, other):
            await lock.release()


async def test_acquire_stands_by_until_the_holder_releases(engine):
    name = f"worker-{uuid.uuid4()}"
    async with leader_lock(engine, name) as holder:
        waiting = leader_lock(engine, name)
        attempt = asyncio.create_task(waiting.acquire())
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.shield(attempt), 0.8)
        await holder.release()
        await asyncio.wait_for(attempt, 30)
        assert waiting.held
        await waiting.release()


async def test_run_as_leader_returns_what_the_work_returns(engine):
    async with leader_lock(engine, f"worker-{uuid.uuid4()}") as lock:

        async def work() -> str:
            return "done"

        assert await run_as_leader(lock, work) == "done"


async def test_losing_the_lock_connection_cancels_the_leaders_work(pg_engine):
    name = f"worker-{uuid.uuid4()}"
    lock = leader_lock(pg_engine, name)
    await lock.acquire()
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def work() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()

    leading = asyncio.create_task(run_as_leader(lock, work))
    await asyncio.wait_for(started.wait(), 30)
    async with pg_engine.connect() as conn:
        query = sa.text(
            "SELECT pg_terminate_backend(pid) FROM pg_locks "
            "WHERE locktype = 'advisory' AND granted "
            "AND ((classid::bigint << 32) | objid::bigint) = :key"
        )
        terminated = (await conn.execute(query, {"key": lock_key(name)})).all()
        await conn.commit()
    assert len(terminated) == 1

    with pytest.raises(LeadershipLostError):
        await asyncio.wait_for(leading, 30)
    assert cancelled.is_set()
    assert not lock.held
    await lock.release()
    # The server ended the session, so the lock is free for the next leader.
    successor = leader_lock(pg_engine, name)
    assert await wait_until(successor.try_acquire, timeout=30)
    await successor.release()


def test_sqlite_lock_file_sits_beside_the_database(tmp_path):
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'svc.db'}")
    lock = leader_lock(engine, "outbox-relay:svc:relay")
    assert lock.path == tmp_path / "svc.db.outbox-relay_svc_relay.lock"
