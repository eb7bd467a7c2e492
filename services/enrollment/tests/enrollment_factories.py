"""Small builders for domain tests: valid defaults, override what the test is about."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from enrollment.domain.employees import Employee, EmployeeStatus
from enrollment.domain.enrollments import Application
from enrollment.domain.programs import Program, ProgramStatus
from mentorship_contracts.common import Profile, Role
from mentorship_contracts.enrollment import Eligibility, EmployeeRecord, ProgramSettings

TODAY = date(2025, 6, 1)


def settings(**overrides: Any) -> ProgramSettings:
    values: dict[str, Any] = {
        "name": "Leadership 2025",
        "objective": "grow leaders",
        "formats": ["one_to_one"],
        "tracks": ["leadership"],
        "starts_on": date(2025, 1, 1),
        "ends_on": None,
        "cadence_days": 14,
        "mentor_capacity": 3,
        "approval": "auto",
    }
    values.update(overrides)
    return ProgramSettings(**values)


def program(status: ProgramStatus = ProgramStatus.OPEN, **overrides: Any) -> Program:
    return Program(f"program-{uuid.uuid4()}", settings(**overrides), status)


def record(**overrides: Any) -> EmployeeRecord:
    values: dict[str, Any] = {
        "email": "ada@example.com",
        "given_name": "Ada",
        "family_name": "Lovelace",
        "department": "Engineering",
        "job_level": 3,
        "hired_on": date(2020, 1, 1),
    }
    values.update(overrides)
    return EmployeeRecord(**values)


def employee(**overrides: Any) -> Employee:
    return Employee(f"e-{uuid.uuid4().hex[:8]}", record(**overrides))


def departed(employee_: Employee, left_on: date = TODAY) -> Employee:
    return Employee(
        employee_.employee_id,
        employee_.record,
        status=EmployeeStatus.DEPARTED,
        left_on=left_on,
        departure_reason="voluntary",
    )


def application(
    program_: Program, employee_: Employee, role: Role = "mentee", **profile: Any
) -> Application:
    return Application(
        enrollment_id=str(uuid.uuid4()),
        program_id=program_.program_id,
        employee_id=employee_.employee_id,
        role=role,
        profile=Profile(**profile),
    )


ANYONE = Eligibility()
