"""Background tasks that never die silently.

The relay and every consumer run as supervised tasks: a crash is logged with its
traceback, counted, and followed by a restart after an exponential backoff (reset once
the task has run well for a while). Each restart builds a fresh worker from its
factory, so no half-broken state survives a crash. Only cancellation stops them.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any, Final, Protocol

import structlog
from prometheus_client import Counter, Gauge

log = structlog.get_logger(__name__)
# Awaits named when a task does not stop (a deeper chain is cut).
_MAX_AWAITS: Final = 40

TASK_RESTARTS: Final = Counter(
    "mentorship_background_task_restarts_total",
    "Restarts of a supervised background task after it crashed or returned.",
    ["service", "task"],
)
TASK_RUNNING: Final = Gauge(
    "mentorship_background_task_running",
    "1 while a supervised background task runs, 0 while it waits to restart.",
    ["service", "task"],
)


def raise_if_cancelling() -> None:
    """Re-raise a cancellation of the current task that a library swallowed.

    On Python 3.11 ``asyncio.wait_for`` returns the inner result and drops a
    cancellation that lands in the same loop iteration (gh-86296, fixed in 3.12).
    nats-py's ``fetch``/``next_msg``/``request`` are built on it, so a worker cancelled
    just as a message -- or the server's 408 for an expired pull -- arrives would loop
    forever. Every polling loop of a background task calls this once per turn: the
    task's pending cancellation request is still counted, only the exception was lost.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class Worker(Protocol):
    async def run(self) -> None:
        """Run until cancelled."""


class TaskSupervisor:
    def __init__(
        self,
        service: str,
        *,
        initial_backoff: float = 0.5,
        max_backoff: float = 30.0,
        healthy_after: float = 60.0,
    ) -> None:
        self.service = service
        self._initial_backoff = initial_backoff
        self._max_backoff = max_backoff
        self._healthy_after = healthy_after
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, name: str, make: Callable[[], Worker]) -> None:
        if name in self._tasks:
            raise ValueError(f"a task named {name!r} is already supervised")
        self._tasks[name] = asyncio.create_task(self._supervise(name, make), name=name)

    @property
    def names(self) -> list[str]:
        return list(self._tasks)

    async def _supervise(self, name: str, make: Callable[[], Worker]) -> None:
        running = TASK_RUNNING.labels(self.service, name)
        loop = asyncio.get_running_loop()
        backoff = self._initial_backoff
        while True:
            raise_if_cancelling()
            started = loop.time()
            running.set(1)
            try:
                await make().run()
            except Exception:
                log.exception("task.crashed", task=name, restart_in=round(backoff, 2))
            else:
                log.error("task.returned", task=name, restart_in=round(backoff, 2))
            finally:
                running.set(0)
            TASK_RESTARTS.labels(self.service, name).inc()
            if loop.time() - started >= self._healthy_after:
                backoff = self._initial_backoff
            # Jitter keeps several crashed consumers from retrying in lockstep.
            await asyncio.sleep(backoff * random.uniform(0.8, 1.2))  # noqa: S311 - jitter, not crypto
            backoff = min(backoff * 2, self._max_backoff)

    async def stop(self, grace: float) -> None:
        """Cancel every task and wait (bounded) for each to finish its cleanup."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=grace)
        for task in pending:
            log.error(
                "task.did_not_stop",
                task=task.get_name(),
                grace_seconds=grace,
                waiting_in=_stack(task),
                state=repr(task),
            )
        self._tasks.clear()


def _stack(task: asyncio.Task[None]) -> list[str]:
    """Where ``task`` waits: its chain of awaits, outermost first (``Task.get_stack``
    gives only the outermost coroutine's frame). The task's repr names the future the
    innermost awaits."""
    chain: list[str] = []
    awaited: Any = task.get_coro()
    while len(chain) < _MAX_AWAITS:
        frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
        if frame is None:
            break
        code = frame.f_code
        chain.append(f"{code.co_filename}:{frame.f_lineno} in {code.co_qualname}")
        awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
    return chain
