"""run_sync: SQLAlchemy's greenlet_spawn on greenlets kept for reuse."""

import asyncio
import contextvars
import gc
import threading
import weakref

import pytest
from greenlet import getcurrent
from sqlalchemy.util import await_only

from mentorship_kit.db import run_sync
from mentorship_kit.testing import wait_until

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="none")


class BoomError(Exception):
    pass


async def test_returns_what_the_function_returns_and_awaits_inside_it():
    async def double(n: int) -> int:
        await asyncio.sleep(0)
        return n * 2

    def sync_code(n: int) -> int:
        # What SQLAlchemy's sync core does when the driver must wait: await_only.
        return await_only(double(n)) + await_only(double(1))

    assert await run_sync(sync_code, 20) == 42


async def test_an_exception_is_raised_to_the_caller_and_the_runner_is_reused():
    def fails() -> None:
        raise BoomError("no")

    def which_greenlet() -> object:
        return getcurrent()

    first = await run_sync(which_greenlet)
    with pytest.raises(BoomError, match="no"):
        await run_sync(fails)
    assert await run_sync(which_greenlet) is first


async def test_an_exception_from_an_awaited_call_reaches_the_sync_code():
    async def broken() -> None:
        await asyncio.sleep(0)
        raise BoomError("from the driver")

    def sync_code() -> str:
        try:
            await_only(broken())
        except BoomError as exc:
            return f"handled: {exc}"
        return "not reached"

    assert await run_sync(sync_code) == "handled: from the driver"


async def test_concurrent_calls_run_on_runners_of_their_own():
    gate = asyncio.Event()
    seen: list[object] = []

    def waits() -> None:
        seen.append(getcurrent())
        await_only(gate.wait())

    calls = [asyncio.create_task(run_sync(waits)) for _ in range(3)]
    await wait_until(lambda: len(seen) == 3, timeout=10, message="three calls waiting")
    gate.set()
    await asyncio.gather(*calls)
    assert len({id(runner) for runner in seen}) == 3


async def test_cancellation_is_thrown_into_the_sync_code_which_can_clean_up():
    started = asyncio.Event()
    cleaned: list[str] = []

    def holds_a_connection() -> None:
        try:
            await_only(asyncio.sleep(3600))
        finally:
            cleaned.append("returned to the pool")

    async def call() -> None:
        started.set()
        await run_sync(holds_a_connection)

    task = asyncio.create_task(call())
    await started.wait()
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleaned == ["returned to the pool"]
    # The runner survived the cancellation and serves the next call.
    assert await run_sync(lambda: "still serving") == "still serving"


async def test_the_sync_code_sees_the_callers_context_variables():
    async def in_a_request(rid: str) -> str:
        request_id.set(rid)
        return await run_sync(request_id.get)

    assert await asyncio.gather(in_a_request("r1"), in_a_request("r2")) == ["r1", "r2"]
    assert await run_sync(request_id.get) == "none"


class Connection:
    pass


async def test_an_idle_runner_holds_nothing_of_its_last_call():
    returned = weakref.ref(await run_sync(Connection))
    gc.collect()
    assert returned() is None

    def uses(c: Connection) -> int:
        return id(c)

    conn = Connection()
    sent = weakref.ref(conn)
    await run_sync(uses, conn)
    del conn
    gc.collect()
    assert sent() is None


async def test_an_idle_runner_holds_nothing_of_its_last_error():
    def fails() -> None:
        raise BoomError("with a traceback that holds frames")

    with pytest.raises(BoomError) as caught:
        await run_sync(fails)
    error = weakref.ref(caught.value)
    del caught
    gc.collect()
    assert error() is None


async def test_each_thread_has_runners_of_its_own():
    outcomes: list[object] = []

    def in_another_thread() -> None:
        async def call() -> object:
            return await run_sync(getcurrent)

        outcomes.append(asyncio.run(call()))

    here = await run_sync(getcurrent)
    thread = threading.Thread(target=in_another_thread)
    thread.start()
    thread.join(timeout=30)
    assert len(outcomes) == 1
    assert outcomes[0] is not here
