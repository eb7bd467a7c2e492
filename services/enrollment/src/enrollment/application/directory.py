"""Directory use cases: the HRIS's records, one at a time or in bulk, and departures.

A departure withdraws every live enrollment of the employee in the same transaction:
the query table names them, their streams are loaded with the employee's (all loads
before the first append), and the withdrawals are appended with the departure — with,
where an enrolled mentee's place freed up, the waitlist's moves into it (see
:mod:`enrollment.application.waitlist`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from enrollment.adapters import repository
from enrollment.adapters.projection import QUERIES
from enrollment.adapters.row_changes import login_keys
from enrollment.adapters.tables import metadata
from enrollment.application import waitlist
from enrollment.application.streams import employee_stream, enrollment_stream, folded, today
from enrollment.application.waitlist import Promotions
from enrollment.domain import employees, enrollments
from enrollment.domain.employees import DepartureReason, Employee, UpsertOutcome
from enrollment.domain.errors import (
    EmployeeErasedError,
    EmployeeExistsError,
    EmployeeNotFoundError,
    UserNameTakenError,
)
from mentorship_contracts import EventContract
from mentorship_contracts.enrollment import EmployeeDeparted, EmployeeRecord
from mentorship_kit.commands import CommandTransaction, Loaded, UseCase
from mentorship_kit.eventstore import ConcurrencyConflictError
from mentorship_kit.idempotency import IdempotencyStore

log = structlog.get_logger(__name__)

# Fields only the identity provider (SCIM) sets; a REST upsert keeps them as they are.
IDENTITY_FIELDS = ("user_name", "external_id", "employee_number", "email_type")
CONFLICT_ROW_ERROR = "the employee changed while the batch was stored; send this row again"
_NEW: Loaded[Employee] = Loaded(None, 0)


@dataclass(frozen=True, slots=True)
class ImportRow:
    employee_id: str
    record: EmployeeRecord


@dataclass(frozen=True, slots=True)
class ImportResult:
    employee_id: str
    status: Literal["created", "updated", "unchanged", "error"]
    error: str | None = None


@dataclass(frozen=True, slots=True)
class EmployeeChange:
    outcome: UpsertOutcome
    employee: Employee
    withdrawn: int = 0
    # The waitlists' moves into places the departure freed.
    promotions: Promotions = waitlist.NONE


def _keeping_identity(current: Employee | None, record: EmployeeRecord) -> EmployeeRecord:
    if current is None:
        return record
    kept = {name: getattr(current.record, name) for name in IDENTITY_FIELDS}
    return record.model_copy(update=kept)


def put_employee(employee_id: str, record: EmployeeRecord) -> UseCase[EmployeeChange]:
    """Create or replace an employee's record as the HRIS sends it."""

    async def use_case(tx: CommandTransaction) -> EmployeeChange:
        loaded = await tx.load(employee_stream(employee_id), employees.evolve)
        outcome, events = employees.upsert_employee(
            loaded.state, employee_id, _keeping_identity(loaded.state, record), today()
        )
        await tx.append(employee_stream(employee_id), events, expected_version=loaded.version)
        _log_changes(employee_id, outcome, events)
        return EmployeeChange(outcome, folded(loaded.state, events, employees.evolve))

    return use_case


def import_employees(rows: Sequence[ImportRow]) -> UseCase[list[ImportResult]]:
    """Upsert many employees in one transaction; one result per row, in row order.

    Rows must name distinct employees. All streams are read in one query and the
    events appended in one statement; when that append conflicts with a concurrent
    writer, it is retried in halves (each under a savepoint) down to single rows, and a
    row that still conflicts is reported as an error without spoiling the others.
    """

    async def use_case(tx: CommandTransaction) -> list[ImportResult]:
        day = today()
        # Only streams that exist are read: a new employee has no row in the directory
        # (its row commits with its first event), so its stream is empty.
        existing = await repository.existing_employee_ids(
            tx.conn, [row.employee_id for row in rows]
        )
        loaded = await tx.load_many(
            [employee_stream(row.employee_id) for row in rows if row.employee_id in existing],
            employees.evolve,
        )
        decisions: list[tuple[str, Sequence[EventContract], int]] = []
        outcomes: list[UpsertOutcome | EmployeeErasedError] = []
        for row in rows:
            current = loaded.get(employee_stream(row.employee_id), _NEW)
            try:
                outcome, events = employees.upsert_employee(
                    current.state,
                    row.employee_id,
                    _keeping_identity(current.state, row.record),
                    day,
                )
            except EmployeeErasedError as erased:
                outcomes.append(erased)
                continue
            outcomes.append(outcome)
            if events:
                decisions.append((employee_stream(row.employee_id), events, current.version))
        async with QUERIES.deferred(tx.conn):
            failed = await _append_in_chunks(tx, decisions)
        results = [
            ImportResult(row.employee_id, "error", str(outcome))
            if isinstance(outcome, EmployeeErasedError)
            else ImportResult(row.employee_id, "error", CONFLICT_ROW_ERROR)
            if employee_stream(row.employee_id) in failed
            else ImportResult(row.employee_id, outcome.value)
            for row, outcome in zip(rows, outcomes, strict=True)
        ]
        log.info(
            "directory.imported",
            rows=len(rows),
            changed=len(decisions) - len(failed),
            conflicts=len(failed),
        )
        return results

    return use_case


async def _append_in_chunks(
    tx: CommandTransaction, decisions: Sequence[tuple[str, Sequence[EventContract], int]]
) -> set[str]:
    """Append all decisions; the stream ids that conflicted even on their own."""
    if not decisions:
        return set()
    try:
        async with tx.conn.begin_nested():
            await tx.append_many(decisions)
    except ConcurrencyConflictError:
        if len(decisions) == 1:
            return {decisions[0][0]}
        middle = len(decisions) // 2
        return await _append_in_chunks(tx, decisions[:middle]) | await _append_in_chunks(
            tx, decisions[middle:]
        )
    return set()


def record_departure(
    employee_id: str, left_on: date, reason: DepartureReason
) -> UseCase[EmployeeChange]:
    """The employee left: record it and withdraw every live enrollment of theirs."""

    async def use_case(tx: CommandTransaction) -> EmployeeChange:
        await repository.get_employee(tx.conn, employee_id, lock=True)
        loaded = await tx.load(employee_stream(employee_id), employees.evolve)
        if loaded.state is None:
            raise EmployeeNotFoundError(employee_id)
        events = employees.depart(loaded.state, left_on, reason)
        return await _save(tx, loaded.state, loaded.version, events, UpsertOutcome.UPDATED)

    return use_case


# What an identity provider wants an employee to be: the record, and whether active.
Revision = Callable[[Employee | None], tuple[EmployeeRecord, bool]]


def sync_identity(employee_id: str, revise: Revision, *, creating: bool) -> UseCase[EmployeeChange]:
    """Create or change an employee as the identity provider (SCIM) describes them.

    ``revise`` gets the current employee (None when new) inside the transaction, so a
    partial change (SCIM PATCH) applies to what is stored now. Creating over an
    employee the identity provider deleted earlier brings that employee back. An
    inactive user is a departure (today, reason "other"), an active one a reinstatement.
    """

    async def use_case(tx: CommandTransaction) -> EmployeeChange:
        await repository.get_employee(tx.conn, employee_id, lock=True)
        loaded = await tx.load(employee_stream(employee_id), employees.evolve)
        current = loaded.state
        if creating and current is not None and current.erased_on is not None:
            raise EmployeeErasedError(employee_id, current.erased_on.isoformat())
        if creating and current is not None and not current.deprovisioned:
            raise EmployeeExistsError(employee_id)
        if not creating and (current is None or current.deprovisioned or current.is_erased):
            raise EmployeeNotFoundError(employee_id)
        record, active = revise(current)
        await _check_user_name(tx.conn, employee_id, record)
        day = today()
        events: list[EventContract] = []
        state = current
        if current is not None and current.deprovisioned:
            events += employees.reinstate(current, day)
            state = folded(current, events, employees.evolve)
        outcome, changed = employees.upsert_employee(state, employee_id, record, day)
        events += changed
        state = folded(state, changed, employees.evolve)
        if active:
            events += employees.reinstate(state, day)
        elif state.is_active:
            events += employees.depart(state, day, "other")
        if creating:
            outcome = UpsertOutcome.CREATED
        elif events and outcome is UpsertOutcome.UNCHANGED:
            outcome = UpsertOutcome.UPDATED
        return await _save(tx, current, loaded.version, events, outcome)

    return use_case


def deprovision(employee_id: str) -> UseCase[EmployeeChange]:
    """The identity provider deleted the user: a departure the directory remembers."""

    async def use_case(tx: CommandTransaction) -> EmployeeChange:
        await repository.get_employee(tx.conn, employee_id, lock=True)
        loaded = await tx.load(employee_stream(employee_id), employees.evolve)
        if loaded.state is None or loaded.state.deprovisioned:
            raise EmployeeNotFoundError(employee_id)
        events = employees.depart(loaded.state, today(), "other", deprovisioned=True)
        return await _save(tx, loaded.state, loaded.version, events, UpsertOutcome.UPDATED)

    return use_case


@dataclass(frozen=True, slots=True)
class ErasureResult:
    employee: Employee
    # False when the employee had been erased before (the request changed nothing).
    first: bool


def erase_employee(employee_id: str) -> UseCase[ErasureResult]:
    """Erase the employee's personal data (GDPR art. 17) without rewriting history.

    In one transaction: EmployeeErased is appended (the query tables blank the row),
    the employee's data key is destroyed (every sealed field of their events, in every
    copy, now opens as None), and stored idempotent answers that name them are
    forgotten. Erasing again changes nothing and answers the same.
    """

    async def use_case(tx: CommandTransaction) -> ErasureResult:
        if tx.vault is None:
            msg = "the enrollment service runs without its personal-data vault"
            raise RuntimeError(msg)
        await repository.get_employee(tx.conn, employee_id, lock=True)
        loaded = await tx.load(employee_stream(employee_id), employees.evolve)
        if loaded.state is None:
            raise EmployeeNotFoundError(employee_id)
        events = employees.erase(loaded.state, today())
        await tx.append(employee_stream(employee_id), events, expected_version=loaded.version)
        await tx.vault.erase(tx.conn, employee_id)
        forgotten = await IdempotencyStore(metadata).forget_answers_naming(tx.conn, employee_id)
        log.info(
            "directory.employee_erased",
            employee_id=employee_id,
            first=bool(events),
            idempotent_answers_forgotten=forgotten,
        )
        return ErasureResult(folded(loaded.state, events, employees.evolve), first=bool(events))

    return use_case


async def _check_user_name(conn: AsyncConnection, employee_id: str, record: EmployeeRecord) -> None:
    _, login_key = login_keys(employee_id, record.user_name)
    holder = await repository.login_taken_by(conn, login_key, other_than=employee_id)
    if holder is not None:
        raise UserNameTakenError(record.user_name or employee_id, holder)


async def _save(
    tx: CommandTransaction,
    before: Employee | None,
    version: int,
    events: list[EventContract],
    outcome: UpsertOutcome,
) -> EmployeeChange:
    """Append the employee's events and, for a departure, the withdrawals it causes."""
    after = folded(before, events, employees.evolve)
    withdrawals: list[tuple[str, Sequence[EventContract], int]] = []
    ids: list[str] = []
    freed: list[str] = []  # program ids, once per enrolled mentee withdrawn
    if any(isinstance(event, EmployeeDeparted) for event in events):
        ids = await repository.live_enrollment_ids(tx.conn, after.employee_id)
        streams = await tx.load_many([enrollment_stream(i) for i in ids], enrollments.evolve)
        day = today()
        for stream_id, loaded in streams.items():
            if loaded.state is not None and (
                withdrawn := enrollments.withdraw_for_departure(loaded.state, day)
            ):
                withdrawals.append((stream_id, withdrawn, loaded.version))
                if loaded.state.holds_mentee_place:
                    freed.append(loaded.state.program_id)
    promotions, promoted = await _fill_freed_places(tx, freed, skip=set(ids))
    async with QUERIES.deferred(tx.conn):
        await tx.append(employee_stream(after.employee_id), events, expected_version=version)
        if withdrawals or promotions:
            await tx.append_many([*withdrawals, *promotions])
    _log_changes(after.employee_id, outcome, events, withdrawn=len(withdrawals))
    return EmployeeChange(
        outcome if events else UpsertOutcome.UNCHANGED,
        after,
        withdrawn=len(withdrawals),
        promotions=promoted,
    )


async def _fill_freed_places(
    tx: CommandTransaction, freed: Sequence[str], skip: set[str]
) -> tuple[list[waitlist.Decision], Promotions]:
    """The waitlists' moves into the places a departure freed, program by program (in
    program id order, so two departures lock the programs they share in one order)."""
    decisions: list[waitlist.Decision] = []
    promoted = waitlist.NONE
    for program_id in sorted(set(freed)):
        moves, done = await waitlist.decide_promotions(
            tx, program_id, freed=freed.count(program_id), skip=skip
        )
        decisions += moves
        promoted += done
    return decisions, promoted


def _log_changes(
    employee_id: str, outcome: UpsertOutcome, events: Sequence[EventContract], withdrawn: int = 0
) -> None:
    if not events:
        return
    log.info(
        "directory.employee_changed",
        employee_id=employee_id,
        outcome=outcome.value,
        events=[event.event_type() for event in events],
        enrollments_withdrawn=withdrawn,
    )
