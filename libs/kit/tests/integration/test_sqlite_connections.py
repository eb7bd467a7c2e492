"""SQLite connections of the kit's engine: stopping one twice leaves nothing waiting.

aiosqlite 0.22's worker thread ends at the first stop request it takes; a second one is
queued behind it and never run, and whoever awaits it waits forever. SQLAlchemy asks for
two when a connection it invalidated is cancelled while closing gracefully (its
``terminate``: the close goes on in a shielded task and a forced stop is sent beside it).
That stalled service shutdowns in CI: the test's event loop then waited, with no timer,
for a task nothing would ever wake.
"""

import asyncio
import threading

import sqlalchemy as sa
from sqlalchemy import event

from mentorship_kit.db import begin, create_engine
from mentorship_kit.testing import wait_until


async def _driver_connection(engine):
    conn = await engine.connect()
    raw = await conn.get_raw_connection()
    return conn, raw.driver_connection


async def test_a_stop_while_a_close_is_queued_leaves_the_close_to_finish(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'kit.db'}")
    conn, driver = await _driver_connection(engine)
    closing = asyncio.ensure_future(driver.close())
    # One turn of the loop: the close queues its call to the worker thread and waits.
    await asyncio.sleep(0)
    assert not closing.done()
    driver.stop()  # what SQLAlchemy's terminate sends when its graceful close is cancelled

    await asyncio.wait_for(closing, timeout=10)

    await conn.invalidate()
    await engine.dispose()


async def test_a_second_stop_resolves_with_the_first(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'kit.db'}")
    conn, driver = await _driver_connection(engine)
    first = driver.stop()
    second = driver.stop()  # what a close() after a forced stop sends

    await asyncio.wait_for(asyncio.gather(first, second), timeout=10)

    await conn.invalidate()
    await engine.dispose()


async def test_a_writer_cancelled_twice_while_it_waits_for_the_lock_leaves_no_task(tmp_path):
    # The shutdown that stalled: a writer waits for SQLite's write lock; the first cancel
    # makes SQLAlchemy invalidate its connection and close it gracefully in a shielded
    # task, queued behind the waiting BEGIN (so the writer outlives a shutdown grace);
    # the second cancel (the test runner's, at loop teardown) forces a stop beside it.
    engine = create_engine(f"sqlite:///{tmp_path / 'kit.db'}")
    async with begin(engine) as conn:
        await conn.execute(sa.text("CREATE TABLE t (x INTEGER)"))
    holder = await engine.connect()
    await holder.begin()
    await holder.execute(sa.text("INSERT INTO t VALUES (1)"))  # holds the write lock
    # The writer's BEGIN follows its connect in the same step, with nothing awaited
    # between: once connected, it waits for the lock.
    connected = threading.Event()
    event.listen(engine.sync_engine, "engine_connect", lambda _conn: connected.set())

    async def writer() -> None:
        async with begin(engine) as conn:
            await conn.execute(sa.text("INSERT INTO t VALUES (2)"))

    ours = asyncio.current_task()
    task = asyncio.create_task(writer())
    await wait_until(connected.is_set, timeout=10, message="the writer connects")
    task.cancel()
    await wait_until(
        lambda: len(asyncio.all_tasks() - {ours, task}) > 0,
        timeout=10,
        message="the invalidated connection closing in a task of its own",
    )
    assert not task.done()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await holder.rollback()
    await holder.close()

    await wait_until(
        lambda: not asyncio.all_tasks() - {ours},
        timeout=15,
        message="every task of the closed connections finished",
    )
    await engine.dispose()
