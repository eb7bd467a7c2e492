"""Eligibility: which rules of a program an employee does not meet, in words.

Every rule is checked (not just the first that fails) so that an applicant learns all
the reasons at once. An employee the directory lacks data for fails a rule that needs
that data: the reason says what is missing rather than guessing.
"""

from __future__ import annotations

from datetime import date

from enrollment.domain.employees import Employee
from mentorship_contracts.enrollment import Eligibility, EmployeeRecord


def ineligibility_reasons(rules: Eligibility, employee: Employee, today: date) -> list[str]:
    """Why ``employee`` may not join under ``rules`` on ``today``; empty when eligible."""
    if not employee.is_active:
        return [f"the employee left the organisation on {employee.left_on}"]
    record = employee.record
    return [
        *_department(rules, record),
        *_tenure(rules, record, today),
        *_job_level(rules, record),
    ]


def _department(rules: Eligibility, record: EmployeeRecord) -> list[str]:
    if rules.departments is None:
        return []
    if record.department is None:
        return ["the employee's department is unknown"]
    allowed = {department.casefold() for department in rules.departments}
    if record.department.casefold() in allowed:
        return []
    eligible = ", ".join(sorted(rules.departments))
    return [f"department {record.department!r} is not eligible (eligible: {eligible})"]


def _tenure(rules: Eligibility, record: EmployeeRecord, today: date) -> list[str]:
    required = rules.min_tenure_days
    if required is None:
        return []
    if record.hired_on is None:
        return [f"the hire date is unknown; at least {required} days of tenure are required"]
    tenure = (today - record.hired_on).days
    if tenure < required:
        return [f"tenure of {tenure} days is below the required {required}"]
    return []


def _job_level(rules: Eligibility, record: EmployeeRecord) -> list[str]:
    if rules.min_job_level is None and rules.max_job_level is None:
        return []
    level = record.job_level
    if level is None:
        return ["the employee's job level is unknown"]
    if rules.min_job_level is not None and level < rules.min_job_level:
        return [f"job level {level} is below the minimum {rules.min_job_level}"]
    if rules.max_job_level is not None and level > rules.max_job_level:
        return [f"job level {level} is above the maximum {rules.max_job_level}"]
    return []
