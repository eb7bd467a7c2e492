"""Eligibility names every rule an employee fails, and what data is missing."""

from datetime import date, timedelta

import pytest
from enrollment_factories import TODAY, departed, employee

from enrollment.domain.eligibility import ineligibility_reasons
from mentorship_contracts.enrollment import Eligibility


def test_no_rules_admit_every_active_employee():
    assert ineligibility_reasons(Eligibility(), employee(), TODAY) == []


def test_a_departed_employee_is_never_eligible():
    reasons = ineligibility_reasons(Eligibility(), departed(employee()), TODAY)
    assert reasons == [f"the employee left the organisation on {TODAY}"]


@pytest.mark.parametrize("department", ["Engineering", "engineering", "ENGINEERING"])
def test_departments_match_whatever_their_case(department):
    rules = Eligibility(departments=["Engineering", "Sales"])
    assert ineligibility_reasons(rules, employee(department=department), TODAY) == []


def test_another_department_is_refused_with_the_eligible_ones_listed():
    rules = Eligibility(departments=["Sales", "Engineering"])
    reasons = ineligibility_reasons(rules, employee(department="Finance"), TODAY)
    assert reasons == ["department 'Finance' is not eligible (eligible: Engineering, Sales)"]


def test_tenure_counts_days_since_the_hire_date():
    rules = Eligibility(min_tenure_days=90)
    on_the_day = employee(hired_on=TODAY - timedelta(days=90))
    a_day_short = employee(hired_on=TODAY - timedelta(days=89))
    assert ineligibility_reasons(rules, on_the_day, TODAY) == []
    assert ineligibility_reasons(rules, a_day_short, TODAY) == [
        "tenure of 89 days is below the required 90"
    ]


def test_missing_data_fails_the_rules_that_need_it():
    rules = Eligibility(departments=["Sales"], min_tenure_days=1, min_job_level=2)
    unknown = employee(department=None, hired_on=None, job_level=None)
    assert ineligibility_reasons(rules, unknown, TODAY) == [
        "the employee's department is unknown",
        "the hire date is unknown; at least 1 days of tenure are required",
        "the employee's job level is unknown",
    ]


@pytest.mark.parametrize(
    ("level", "reason"),
    [
        (1, "job level 1 is below the minimum 2"),
        (2, None),
        (4, None),
        (5, "job level 5 is above the maximum 4"),
    ],
)
def test_job_level_range_is_inclusive(level, reason):
    rules = Eligibility(min_job_level=2, max_job_level=4)
    expected = [] if reason is None else [reason]
    assert ineligibility_reasons(rules, employee(job_level=level), TODAY) == expected


def test_every_failed_rule_is_reported_at_once():
    rules = Eligibility(departments=["Sales"], min_tenure_days=365, max_job_level=2)
    newcomer = employee(department="Finance", hired_on=date(2025, 5, 1), job_level=7)
    assert len(ineligibility_reasons(rules, newcomer, TODAY)) == 3
