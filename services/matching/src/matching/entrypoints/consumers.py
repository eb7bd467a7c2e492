"""Durable consumers of other services' events (exactly-once in effect, see the kit's
ConsumerRuntime): enrollment's stream feeds the candidate pool ("matching-pool"),
sessions' feedback stream reports failed fit checks ("matching-fitcheck").

Both handlers run inside the consumer's batch transaction. They change matching's
tables and, where a pair or a mentor request must be closed, *list* the closure in
`system_commands` (same transaction, so exactly once); the closure worker then runs it
as an ordinary command. Why not append the events right here is explained in
adapters/work.py. After the batch commits the worker is woken.
"""

from __future__ import annotations

import asyncio
from typing import Final

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from matching.adapters import queries, work
from matching.adapters.pool import PoolProjection, lock_programs, parse, programs_of
from matching.adapters.work import Kind, Reason, SystemCommand, command_id_for
from mentorship_contracts import CloudEvent, EventContract, registry
from mentorship_contracts.enrollment import EmployeeDeparted, ParticipantWithdrew
from mentorship_contracts.sessions import FitCheckFailed
from mentorship_kit.app import WorkerFactory
from mentorship_kit.consumer import ConsumerRuntime
from mentorship_kit.context import ServiceContext

log = structlog.get_logger(__name__)

POOL_CONSUMER: Final = "matching-pool"
FITCHECK_CONSUMER: Final = "matching-fitcheck"


class Wakeup:
    """Tells the closure worker that consumers listed something (after their commit)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()

    async def wait(self, seconds: float) -> None:
        """Until notified or `seconds` passed (the worker polls as a fallback).

        ``asyncio.wait`` rather than ``asyncio.timeout``: on Python 3.11 a cancellation
        arriving as the timeout fires can be turned into a TimeoutError, and a worker
        that took that for "nothing new" would never stop.
        """
        waiter = asyncio.ensure_future(self._event.wait())
        try:
            await asyncio.wait({waiter}, timeout=seconds)
        finally:
            waiter.cancel()
            self._event.clear()


async def _closures_for_leaver(
    conn: AsyncConnection,
    envelope: CloudEvent,
    event: EmployeeDeparted | ParticipantWithdrew,
) -> list[SystemCommand]:
    """The live pairs and pending requests a departure or a withdrawal closes."""
    employee_id = event.employee_id
    if isinstance(event, EmployeeDeparted):
        reason: Reason = "departure"
        day = event.left_on
        live = await queries.live_pairs_of(conn, employee_id)
        pending = await queries.pending_requests_of(conn, employee_id)
    else:
        reason = "departure" if event.reason == "departure" else "withdrawal"
        day = event.withdrew_on
        role = event.role
        live = [
            p
            for p in await queries.live_pairs_of(conn, employee_id, event.program_id)
            if p.format == "peer" or getattr(p, f"{role}_id") == employee_id
        ]
        pending = [
            r
            for r in await queries.pending_requests_of(conn, employee_id, event.program_id)
            if getattr(r, f"{role}_id") == employee_id
        ]
    targets: list[tuple[Kind, str]] = [("pair", p.pair_id) for p in live]
    targets += [("mentor_request", r.request_id) for r in pending]
    return [
        SystemCommand(
            command_id=command_id_for(envelope.id, kind, target),
            kind=kind,
            target_id=target,
            employee_id=employee_id,
            reason=reason,
            occurred_on=day,
            source_event_id=envelope.id,
            actor=envelope.actor,
            correlation_id=envelope.correlationid,
        )
        for kind, target in targets
    ]


async def _programs_touched(conn: AsyncConnection, event: EventContract) -> list[str]:
    """The programs whose pool the event changes: its own, or every program of the
    employee it is about."""
    program_id = getattr(event, "program_id", None)
    if isinstance(program_id, str):
        return [program_id]
    employee_id = getattr(event, "employee_id", None)
    return await programs_of(conn, employee_id) if isinstance(employee_id, str) else []


class PoolConsumer:
    """Enrollment's events -> the pool tables, plus the closures a leaver causes."""

    def __init__(self, wakeup: Wakeup) -> None:
        self.projection = PoolProjection()
        self.wakeup = wakeup

    async def handle(self, conn: AsyncConnection, envelope: CloudEvent) -> None:
        event = parse(envelope)
        if event is None:
            return
        # The programs' locks first, as publishing takes them (see lock_programs).
        await lock_programs(conn, await _programs_touched(conn, event))
        await self.projection.apply(conn, event)
        if isinstance(event, EmployeeDeparted | ParticipantWithdrew):
            commands = await _closures_for_leaver(conn, envelope, event)
            await work.enqueue(conn, commands)
            if commands:
                log.info(
                    "pool.closures_listed",
                    event_type=envelope.eventtype,
                    employee_id=event.employee_id,
                    closures=len(commands),
                )

    async def after_commit(self, envelope: CloudEvent) -> None:
        if envelope.eventtype in {"EmployeeDeparted", "ParticipantWithdrew"}:
            self.wakeup.notify()


class FitCheckConsumer:
    """FitCheckFailed -> the active pair is listed for ending (reason failed_fit)."""

    def __init__(self, wakeup: Wakeup) -> None:
        self.wakeup = wakeup

    async def handle(self, conn: AsyncConnection, envelope: CloudEvent) -> None:
        if envelope.eventtype != "FitCheckFailed":
            return
        event = registry().parse(envelope.eventtype, envelope.schemaversion, envelope.data)
        assert isinstance(event, FitCheckFailed)  # noqa: S101 - the type was checked above
        pair = await queries.get_pair(conn, event.pair_id)
        if pair is None or pair.status != "active":
            log.info("fitcheck.ignored", pair_id=event.pair_id, known=pair is not None)
            return
        await work.enqueue(
            conn,
            [
                SystemCommand(
                    command_id=command_id_for(envelope.id, "pair", pair.pair_id),
                    kind="pair",
                    target_id=pair.pair_id,
                    employee_id=event.respondent_id,
                    reason="failed_fit",
                    occurred_on=event.reported_on,
                    source_event_id=envelope.id,
                    actor=envelope.actor,
                    correlation_id=envelope.correlationid,
                )
            ],
        )
        log.info("fitcheck.closure_listed", pair_id=pair.pair_id)

    async def after_commit(self, envelope: CloudEvent) -> None:
        if envelope.eventtype == "FitCheckFailed":
            self.wakeup.notify()


def consumer_workers(wakeup: Wakeup) -> list[WorkerFactory]:
    """The two consumers, as worker factories for the service spec."""

    def pool(context: ServiceContext) -> ConsumerRuntime:
        handler = PoolConsumer(wakeup)
        return ConsumerRuntime(
            context.engine,
            context.js,
            consumer=POOL_CONSUMER,
            source_service="enrollment",
            handler=handler.handle,
            after_commit=handler.after_commit,
        )

    def fitcheck(context: ServiceContext) -> ConsumerRuntime:
        handler = FitCheckConsumer(wakeup)
        return ConsumerRuntime(
            context.engine,
            context.js,
            consumer=FITCHECK_CONSUMER,
            source_service="sessions",
            filter_subject="mentorship.sessions.feedback.>",
            handler=handler.handle,
            after_commit=handler.after_commit,
        )

    return [pool, fitcheck]
