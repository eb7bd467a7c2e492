"""Background workers: the closure worker (what consumers listed) and the expiry of
unanswered mentor requests. Both are polling loops with an injectable clock; the
closure worker is also woken right after a consumer listed something."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

import structlog

from matching.adapters import queries, work
from matching.application import closures
from matching.application.clock import Clock
from matching.application.outcome import Outcome
from matching.application.requests import expire_request
from matching.config import request_ttl, worker_poll
from matching.entrypoints.consumers import Wakeup
from matching.metrics import SERVICE, WORKER_FAILURES, count_events
from mentorship_kit.app import WorkerFactory
from mentorship_kit.commands import UseCase
from mentorship_kit.context import ServiceContext
from mentorship_kit.eventstore import EventMetadata
from mentorship_kit.supervisor import raise_if_cancelling

log = structlog.get_logger(__name__)

BATCH: Final = 100
T = TypeVar("T")


class ClosureWorker:
    """Runs the listed closures (pairs ended or declined, requests moved on)."""

    def __init__(self, context: ServiceContext, wakeup: Wakeup, clock: Clock) -> None:
        self.context = context
        self.wakeup = wakeup
        self.clock = clock

    async def run(self) -> None:
        ttl, poll = request_ttl(self.context.settings), worker_poll(self.context.settings)
        while True:
            raise_if_cancelling()
            listed = await _uninterrupted(_read(self.context, work.pending, BATCH))
            for command in listed:
                await _attempt(
                    self.context,
                    closures.close(command, now=self.clock(), ttl=ttl),
                    closures.metadata_of(command),
                    task="closure",
                    kind=command.kind,
                    target_id=command.target_id,
                    reason=command.reason,
                )
            if len(listed) < BATCH:
                await self.wakeup.wait(poll)


class ExpiryWorker:
    """Moves overdue mentor requests on to the mentee's next choice."""

    def __init__(self, context: ServiceContext, clock: Clock) -> None:
        self.context = context
        self.clock = clock

    async def run(self) -> None:
        ttl, poll = request_ttl(self.context.settings), worker_poll(self.context.settings)
        metadata = EventMetadata(actor_role=closures.SYSTEM_ROLE)
        while True:
            raise_if_cancelling()
            due = await _uninterrupted(
                _read(self.context, queries.due_requests, self.clock(), BATCH)
            )
            for request_id in due:
                await _attempt(
                    self.context,
                    expire_request(request_id, now=self.clock(), ttl=ttl),
                    metadata,
                    task="expiry",
                    request_id=request_id,
                )
            if len(due) < BATCH:
                await asyncio.sleep(poll)  # polling for due requests, not synchronising


async def _attempt(
    context: ServiceContext,
    use_case: UseCase[Outcome[T]],
    metadata: EventMetadata,
    *,
    task: str,
    **facts: object,
) -> None:
    """Run one item; a failing item is logged and counted, and retried on the next round
    without holding back the others."""
    try:
        result = await _uninterrupted(context.runner.run(use_case, metadata=metadata))
    except Exception:
        WORKER_FAILURES.labels(SERVICE, task).inc()
        log.exception("worker.item_failed", task=task, **facts)
        return
    count_events(list(result.events))
    log.info("worker.item_done", task=task, events=list(result.events), **facts)


async def _read(context: ServiceContext, query: Callable[..., Awaitable[T]], *args: object) -> T:
    async with context.engine.connect() as conn:
        return await query(conn, *args)


async def _uninterrupted(step: Awaitable[T]) -> T:
    """Let a database step in flight finish before a cancellation stops the worker.

    Cancelling aiosqlite in the middle of a call can leave its connection (and SQLite's
    only write lock) behind; a step here is short, so stopping waits for it instead.
    """
    task = asyncio.ensure_future(step)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait({task})
        if not task.cancelled() and task.exception() is not None:
            log.warning("worker.step_failed_while_stopping", error=repr(task.exception()))
        raise


def background_workers(wakeup: Wakeup, clock: Clock) -> list[WorkerFactory]:
    def closure_worker(context: ServiceContext) -> ClosureWorker:
        return ClosureWorker(context, wakeup, clock)

    def expiry_worker(context: ServiceContext) -> ExpiryWorker:
        return ExpiryWorker(context, clock)

    return [closure_worker, expiry_worker]
