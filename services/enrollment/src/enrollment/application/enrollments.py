"""Enrollment use cases: apply, approve, reject, withdraw, change the profile.

Withdrawing an enrolled mentee hands the freed place to the waitlist in the same
transaction (see :mod:`enrollment.application.waitlist`).

Applying decides on state outside the new enrollment's own stream: the program (is it
open, is it full) and the employee (eligible?). Both are read from the query tables,
which commit with their events, under row locks on PostgreSQL: the employee's row
always (so a concurrent departure either sees this application or refuses it), the
program's row when the program caps its mentees (so two applicants cannot both take
the last place). Locks are taken employee first, program second, everywhere.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from enrollment.adapters import repository
from enrollment.adapters.projection import QUERIES
from enrollment.application import waitlist
from enrollment.application.streams import enrollment_stream, folded, today
from enrollment.application.waitlist import Promotions
from enrollment.domain import enrollments
from enrollment.domain.enrollments import Application, Enrollment, WithdrawalReason
from enrollment.domain.errors import (
    AlreadyAppliedError,
    EmployeeNotFoundError,
    EnrollmentNotFoundError,
    NotYoursError,
    ProgramNotFoundError,
)
from enrollment.domain.programs import Program
from mentorship_contracts import EventContract
from mentorship_contracts.common import Profile, Role
from mentorship_kit.commands import CommandTransaction, UseCase
from mentorship_kit.eventstore import NO_STREAM

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class ApplicationInput:
    program_id: str
    employee_id: str
    role: Role
    profile: Profile


def apply(request: ApplicationInput) -> UseCase[Enrollment]:
    async def use_case(tx: CommandTransaction) -> Enrollment:
        conn = tx.conn
        found = await repository.application_context(
            conn, request.program_id, request.employee_id, request.role
        )
        if found.employee is None:
            raise EmployeeNotFoundError(request.employee_id)
        if found.program is None:
            raise ProgramNotFoundError(request.program_id)
        if found.live is not None:
            raise AlreadyAppliedError(*found.live)
        employee = found.employee
        program, enrolled_mentees = await _mentee_places(conn, found.program.program, request.role)
        application = Application(
            enrollment_id=str(uuid.uuid4()),
            program_id=request.program_id,
            employee_id=request.employee_id,
            role=request.role,
            profile=request.profile,
        )
        events = enrollments.submit_application(
            program,
            employee.employee,
            application,
            enrolled_mentees=enrolled_mentees,
            today=today(),
        )
        # Submitted and decided in one command: one row written, not one per event.
        async with QUERIES.deferred(tx.conn):
            await tx.append(
                enrollment_stream(application.enrollment_id), events, expected_version=NO_STREAM
            )
        enrollment = folded(None, events, enrollments.evolve)
        log.info(
            "enrollment.decided",
            enrollment_id=enrollment.enrollment_id,
            program_id=enrollment.program_id,
            employee_id=enrollment.employee_id,
            role=enrollment.role,
            status=enrollment.status.value,
            reasons=list(enrollment.reasons),
        )
        return enrollment

    return use_case


async def _program(conn: AsyncConnection, program_id: str, *, lock: bool = False) -> Program:
    row = await repository.get_program(conn, program_id, lock=lock)
    if row is None:
        raise ProgramNotFoundError(program_id)
    return row.program


async def _mentee_places(conn: AsyncConnection, program: Program, role: str) -> tuple[Program, int]:
    """The program as of holding its lock, and its enrolled mentees, when both matter."""
    if role != "mentee" or program.settings.max_mentees is None:
        return program, 0
    locked = await _program(conn, program.program_id, lock=True)
    return locked, await repository.count_enrolled_mentees(conn, program.program_id)


async def _load(
    tx: CommandTransaction, enrollment_id: str, acting_for: str | None
) -> tuple[Enrollment, int]:
    loaded = await tx.load(enrollment_stream(enrollment_id), enrollments.evolve)
    if loaded.state is None:
        raise EnrollmentNotFoundError(enrollment_id)
    if acting_for is not None and loaded.state.employee_id != acting_for:
        raise NotYoursError(enrollment_id)
    return loaded.state, loaded.version


def approve(enrollment_id: str) -> UseCase[Enrollment]:
    async def use_case(tx: CommandTransaction) -> Enrollment:
        state, version = await _load(tx, enrollment_id, None)
        program = await _program(tx.conn, state.program_id)
        program, enrolled_mentees = await _mentee_places(tx.conn, program, state.role)
        events = enrollments.approve(
            state, program, enrolled_mentees=enrolled_mentees, today=today()
        )
        return await _save(tx, state, version, events)

    return use_case


def reject(enrollment_id: str, reasons: list[str]) -> UseCase[Enrollment]:
    async def use_case(tx: CommandTransaction) -> Enrollment:
        state, version = await _load(tx, enrollment_id, None)
        return await _save(tx, state, version, enrollments.reject(state, reasons, today()))

    return use_case


@dataclass(frozen=True, slots=True)
class Withdrawal:
    enrollment: Enrollment
    # The waitlist's moves into the place the withdrawal freed.
    promotions: Promotions = waitlist.NONE


def withdraw(
    enrollment_id: str, reason: WithdrawalReason, *, acting_for: str | None
) -> UseCase[Withdrawal]:
    """Withdraw; a mentee's freed place goes to the waitlist in the same transaction.

    ``acting_for``: the employee a participant caller may act for (None: anyone).
    """

    async def use_case(tx: CommandTransaction) -> Withdrawal:
        state, version = await _load(tx, enrollment_id, acting_for)
        events = enrollments.withdraw(state, reason, today())
        decisions: list[waitlist.Decision] = []
        promotions = waitlist.NONE
        if events and state.holds_mentee_place:
            decisions, promotions = await waitlist.decide_promotions(tx, state.program_id, freed=1)
        async with QUERIES.deferred(tx.conn):
            after = await _save(tx, state, version, events)
            if decisions:
                await tx.append_many(decisions)
        return Withdrawal(after, promotions)

    return use_case


def update_profile(
    enrollment_id: str, profile: Profile, *, acting_for: str | None
) -> UseCase[Enrollment]:
    async def use_case(tx: CommandTransaction) -> Enrollment:
        state, version = await _load(tx, enrollment_id, acting_for)
        program = await _program(tx.conn, state.program_id)
        return await _save(tx, state, version, enrollments.update_profile(state, program, profile))

    return use_case


async def _save(
    tx: CommandTransaction, state: Enrollment, version: int, events: list[EventContract]
) -> Enrollment:
    await tx.append(enrollment_stream(state.enrollment_id), events, expected_version=version)
    after = folded(state, events, enrollments.evolve)
    if events:
        log.info(
            "enrollment.changed",
            enrollment_id=after.enrollment_id,
            status=after.status.value,
            events=[event.event_type() for event in events],
        )
    return after
