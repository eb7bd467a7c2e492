"""The task supervisor: a task that outlives its grace is named, with where it waits."""

import asyncio

from structlog.testing import capture_logs

from mentorship_kit.supervisor import TaskSupervisor


class Stubborn:
    """A worker whose cleanup waits for something that never comes."""

    def __init__(self, started: asyncio.Event, never: asyncio.Event) -> None:
        self.started, self.never = started, never

    async def run(self) -> None:
        try:
            self.started.set()
            await asyncio.Event().wait()
        finally:
            await self.cleanup_that_hangs()

    async def cleanup_that_hangs(self) -> None:
        await self.never.wait()


async def test_a_task_that_does_not_stop_is_logged_with_where_it_waits():
    started, never = asyncio.Event(), asyncio.Event()
    supervisor = TaskSupervisor("testsvc")
    supervisor.start("stubborn", lambda: Stubborn(started, never))
    await asyncio.wait_for(started.wait(), timeout=10)

    with capture_logs() as logs:
        await supervisor.stop(grace=0.05)
    never.set()  # let it finish, so the test leaves nothing running

    [entry] = [e for e in logs if e["event"] == "task.did_not_stop"]
    assert entry["task"] == "stubborn"
    waits = entry["waiting_in"]
    assert [w.rsplit(" in ", 1)[-1] for w in waits[:3]] == [
        "TaskSupervisor._supervise",
        "Stubborn.run",
        "Stubborn.cleanup_that_hangs",
    ]
    assert waits[-1].endswith(" in Event.wait")
    assert "wait_for=<Future pending" in entry["state"]
