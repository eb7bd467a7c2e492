"""Every query of the enrollment service, against its query tables.

Row → domain value mapping lives here too, so callers get programs, employees and
enrollments rather than rows. ``lock=True`` takes the row's write lock on PostgreSQL
(``FOR UPDATE``; SQLite has one writer, whose transaction already holds the lock):
commands that decide on counts or on another aggregate's state take it so that two of
them cannot decide on the same stale view.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from enrollment.adapters.tables import LIVE_STATUSES, employees, enrollments, programs
from enrollment.domain.employees import Employee, EmployeeStatus
from enrollment.domain.enrollments import Enrollment, EnrollmentStatus
from enrollment.domain.programs import Program, ProgramStatus
from mentorship_contracts.common import Profile
from mentorship_contracts.enrollment import EmployeeRecord, ProgramSettings
from mentorship_kit.db import transaction_driver

# A row as SQLAlchemy or the driver hands it over, read by column name.
Row = sa.RowMapping | Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ProgramRow:
    program: Program
    seq: int
    opened_on: date | None
    closed_on: date | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class EmployeeRow:
    employee: Employee
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class EnrollmentRow:
    enrollment: Enrollment
    seq: int
    withdrawal_reason: str | None
    submitted_on: date
    decided_on: date | None


def _program(row: Row) -> ProgramRow:
    return ProgramRow(
        program=Program(
            row["program_id"],
            ProgramSettings.model_validate(row["settings"]),
            ProgramStatus(row["status"]),
        ),
        seq=int(row["seq"]),
        opened_on=row["opened_on"],
        closed_on=row["closed_on"],
        created_at=_utc(row["created_at"]),
        updated_at=_utc(row["updated_at"]),
    )


def _utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _employee(row: Row) -> EmployeeRow:
    return EmployeeRow(
        employee=Employee(
            employee_id=row["employee_id"],
            record=EmployeeRecord.model_validate(row["record"]),
            status=EmployeeStatus(row["status"]),
            left_on=row["left_on"],
            departure_reason=row["departure_reason"],
            deprovisioned=bool(row["deprovisioned"]),
            erased_on=row["erased_on"],
        ),
        created_at=_utc(row["created_at"]),
        updated_at=_utc(row["updated_at"]),
    )


def _enrollment(row: sa.RowMapping) -> EnrollmentRow:
    return EnrollmentRow(
        enrollment=Enrollment(
            enrollment_id=row["enrollment_id"],
            program_id=row["program_id"],
            employee_id=row["employee_id"],
            role=row["role"],
            status=EnrollmentStatus(row["status"]),
            profile=Profile.model_validate(row["profile"]),
            reasons=tuple(row["reasons"]),
        ),
        seq=int(row["seq"]),
        withdrawal_reason=row["withdrawal_reason"],
        submitted_on=row["submitted_on"],
        decided_on=row["decided_on"],
    )


async def _first(conn: AsyncConnection, query: sa.Select[Any]) -> sa.RowMapping | None:
    row: sa.RowMapping | None = (await conn.execute(query)).mappings().first()
    return row


# Programs


async def get_program(
    conn: AsyncConnection, program_id: str, *, lock: bool = False
) -> ProgramRow | None:
    query = sa.select(programs).where(programs.c.program_id == program_id)
    if lock:
        query = query.with_for_update()
    row = await _first(conn, query)
    return None if row is None else _program(row)


async def list_programs(
    conn: AsyncConnection, *, after_seq: int | None, limit: int, status: str | None = None
) -> list[ProgramRow]:
    query = sa.select(programs).order_by(programs.c.seq).limit(limit)
    if after_seq is not None:
        query = query.where(programs.c.seq > after_seq)
    if status is not None:
        query = query.where(programs.c.status == status)
    return [_program(row) for row in (await conn.execute(query)).mappings()]


# Employees


async def get_employee(
    conn: AsyncConnection, employee_id: str, *, lock: bool = False
) -> EmployeeRow | None:
    query = sa.select(employees).where(employees.c.employee_id == employee_id)
    if lock:
        query = query.with_for_update()
    row = await _first(conn, query)
    return None if row is None else _employee(row)


async def scim_users(
    conn: AsyncConnection,
    *,
    login_key: str | None = None,
    external_id: str | None = None,
    employee_id: str | None = None,
    offset: int = 0,
    limit: int | None = None,
) -> tuple[int, list[EmployeeRow]]:
    """Employees served over SCIM (not deleted there, not erased), by employee id;
    (total, page)."""
    served = sa.not_(employees.c.deprovisioned) & employees.c.erased_on.is_(None)
    conditions: list[sa.ColumnElement[bool]] = [served]
    if login_key is not None:
        conditions.append(employees.c.login_key == login_key)
    if employee_id is not None:
        conditions.append(employees.c.employee_id == employee_id)
    if external_id is not None:
        conditions.append(employees.c.record["external_id"].as_string() == external_id)
    where = sa.and_(*conditions)
    total = (
        await conn.execute(sa.select(sa.func.count()).select_from(employees).where(where))
    ).scalar_one()
    query = sa.select(employees).where(where).order_by(employees.c.employee_id).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    rows = [_employee(row) for row in (await conn.execute(query)).mappings()]
    return int(total), rows


async def existing_employee_ids(conn: AsyncConnection, employee_ids: Sequence[str]) -> set[str]:
    """Which of ``employee_ids`` the directory holds (a bulk import's first question).

    On PostgreSQL one array parameter, whatever the number of ids (an IN list of 10,000
    literals costs SQLAlchemy more CPU than the query costs the database).
    """
    if not employee_ids:
        return set()
    if conn.dialect.name == "postgresql":
        driver = await transaction_driver(conn)
        rows = await driver.fetch(
            "SELECT employee_id FROM employees WHERE employee_id = ANY($1::text[])",
            list(employee_ids),
        )
        return {row["employee_id"] for row in rows}
    found: set[str] = set()
    for start in range(0, len(employee_ids), 500):
        chunk = list(employee_ids[start : start + 500])
        result = await conn.execute(
            sa.select(employees.c.employee_id).where(employees.c.employee_id.in_(chunk))
        )
        found.update(result.scalars())
    return found


async def login_taken_by(
    conn: AsyncConnection, login_key: str, *, other_than: str | None = None
) -> str | None:
    """The employee (served over SCIM) whose userName is ``login_key``, if any."""
    query = sa.select(employees.c.employee_id).where(
        employees.c.login_key == login_key, sa.not_(employees.c.deprovisioned)
    )
    if other_than is not None:
        query = query.where(employees.c.employee_id != other_than)
    return (await conn.execute(query.limit(1))).scalar_one_or_none()


# Applications


@dataclass(frozen=True, slots=True)
class ApplicationContext:
    """What deciding an application needs, read at once: the applicant (their row locked),
    the program, and the applicant's live application in this role, if any."""

    employee: EmployeeRow | None
    program: ProgramRow | None
    live: tuple[str, str] | None


# PostgreSQL: one statement, straight through the driver (the hot path of applying).
# The CTE takes the employee's row lock; a locked row is re-read at its latest version.
_APPLICATION_CONTEXT = """
WITH applicant AS (SELECT * FROM employees WHERE employee_id = $1 FOR UPDATE)
SELECT e.employee_id, e.status, e.record, e.left_on, e.departure_reason, e.deprovisioned,
       e.erased_on, e.created_at, e.updated_at,
       p.seq AS p_seq, p.program_id AS p_program_id, p.status AS p_status,
       p.settings AS p_settings, p.opened_on AS p_opened_on, p.closed_on AS p_closed_on,
       p.created_at AS p_created_at, p.updated_at AS p_updated_at,
       l.enrollment_id AS live_id, l.status AS live_status
FROM (SELECT 1) AS one
LEFT JOIN applicant e ON true
LEFT JOIN programs p ON p.program_id = $2
LEFT JOIN LATERAL (
    SELECT enrollment_id, status FROM enrollments
    WHERE program_id = $2 AND employee_id = $1 AND role = $3
      AND status IN ('pending_approval', 'enrolled', 'waitlisted')
    LIMIT 1
) AS l ON true
"""


async def application_context(
    conn: AsyncConnection, program_id: str, employee_id: str, role: str
) -> ApplicationContext:
    if conn.dialect.name != "postgresql":
        employee = await get_employee(conn, employee_id, lock=True)
        program = await get_program(conn, program_id)
        live = await live_enrollment(conn, program_id, employee_id, role)
        return ApplicationContext(employee, program, live)
    # The lock must be taken inside the command's transaction.
    driver = await transaction_driver(conn)
    row = await driver.fetchrow(_APPLICATION_CONTEXT, employee_id, program_id, role)
    assert row is not None  # noqa: S101 - the query always answers one row
    employee = None if row["employee_id"] is None else _employee(row)
    # An asyncpg Record iterates over its values; keys() gives the column names.
    names = [name for name in row.keys() if name.startswith("p_")]  # noqa: SIM118 - see above
    program = (
        None
        if row["p_program_id"] is None
        else _program({name.removeprefix("p_"): row[name] for name in names})
    )
    live = None if row["live_id"] is None else (str(row["live_id"]), str(row["live_status"]))
    return ApplicationContext(employee, program, live)


# Enrollments


async def get_enrollment(conn: AsyncConnection, enrollment_id: str) -> EnrollmentRow | None:
    row = await _first(
        conn, sa.select(enrollments).where(enrollments.c.enrollment_id == enrollment_id)
    )
    return None if row is None else _enrollment(row)


async def live_enrollment(
    conn: AsyncConnection, program_id: str, employee_id: str, role: str
) -> tuple[str, str] | None:
    """(enrollment id, status) of the live application of this employee in this role."""
    row = (
        await conn.execute(
            sa.select(enrollments.c.enrollment_id, enrollments.c.status).where(
                enrollments.c.program_id == program_id,
                enrollments.c.employee_id == employee_id,
                enrollments.c.role == role,
                enrollments.c.status.in_(LIVE_STATUSES),
            )
        )
    ).first()
    return None if row is None else (str(row.enrollment_id), str(row.status))


async def live_enrollment_ids(conn: AsyncConnection, employee_id: str) -> list[str]:
    """Every live enrollment of the employee, in any program."""
    result = await conn.execute(
        sa.select(enrollments.c.enrollment_id)
        .where(
            enrollments.c.employee_id == employee_id,
            enrollments.c.status.in_(LIVE_STATUSES),
        )
        .order_by(enrollments.c.seq)
    )
    return [str(value) for value in result.scalars()]


async def count_enrolled_mentees(conn: AsyncConnection, program_id: str) -> int:
    result = await conn.execute(
        sa.select(sa.func.count())
        .select_from(enrollments)
        .where(
            enrollments.c.program_id == program_id,
            enrollments.c.role == "mentee",
            enrollments.c.status == EnrollmentStatus.ENROLLED.value,
        )
    )
    return int(result.scalar_one())


async def waitlisted_mentees(conn: AsyncConnection, program_id: str) -> list[EnrollmentRow]:
    """The program's waitlisted mentees in waitlist order, first in line first.

    An application is waitlisted only when it is submitted, so the order it joined the
    waitlist is the order it was submitted in: ``seq``.
    """
    query = (
        sa.select(enrollments)
        .where(
            enrollments.c.program_id == program_id,
            enrollments.c.role == "mentee",
            enrollments.c.status == EnrollmentStatus.WAITLISTED.value,
        )
        .order_by(enrollments.c.seq)
    )
    return [_enrollment(row) for row in (await conn.execute(query)).mappings()]


async def get_employees(conn: AsyncConnection, employee_ids: Sequence[str]) -> dict[str, Employee]:
    """The directory's employees among ``employee_ids`` (a program's waitlist)."""
    if not employee_ids:
        return {}
    result = await conn.execute(
        sa.select(employees).where(employees.c.employee_id.in_(list(employee_ids)))
    )
    return {row["employee_id"]: _employee(row).employee for row in result.mappings()}


async def list_participants(
    conn: AsyncConnection,
    program_id: str,
    *,
    role: str | None,
    statuses: Sequence[str] | None,
    after_seq: int | None,
    limit: int,
) -> list[EnrollmentRow]:
    query = (
        sa.select(enrollments)
        .where(enrollments.c.program_id == program_id)
        .order_by(enrollments.c.seq)
        .limit(limit)
    )
    if role is not None:
        query = query.where(enrollments.c.role == role)
    if statuses is not None:
        query = query.where(enrollments.c.status.in_(list(statuses)))
    if after_seq is not None:
        query = query.where(enrollments.c.seq > after_seq)
    return [_enrollment(row) for row in (await conn.execute(query)).mappings()]
