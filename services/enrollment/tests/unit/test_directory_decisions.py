"""The directory: upserts name what changed, promotions follow job levels, departures."""

from datetime import date
from functools import reduce

import pytest
from enrollment_factories import TODAY, record

from enrollment.domain import employees
from enrollment.domain.employees import Employee, EmployeeStatus, UpsertOutcome
from enrollment.domain.errors import AlreadyDepartedError
from mentorship_contracts.enrollment import (
    EmployeeDeparted,
    EmployeePromoted,
    EmployeeProvisioned,
    EmployeeReinstated,
    EmployeeUpdated,
)


def fold(events) -> Employee:
    state = reduce(employees.evolve, events, None)
    assert state is not None
    return state


def provisioned(**fields) -> Employee:
    _, events = employees.upsert_employee(None, "e-1", record(**fields), TODAY)
    return fold(events)


def test_a_new_employee_is_provisioned():
    outcome, events = employees.upsert_employee(None, "e-1", record(), TODAY)
    assert outcome is UpsertOutcome.CREATED
    assert events == [EmployeeProvisioned(employee_id="e-1", record=record())]


def test_the_same_record_again_changes_nothing():
    outcome, events = employees.upsert_employee(provisioned(), "e-1", record(), TODAY)
    assert outcome is UpsertOutcome.UNCHANGED
    assert events == []


def test_an_update_lists_exactly_the_changed_fields():
    state = provisioned(title="Engineer", department="Engineering")
    new = record(title="Senior Engineer", department="Platform")
    outcome, events = employees.upsert_employee(state, "e-1", new, TODAY)
    assert outcome is UpsertOutcome.UPDATED
    assert events == [
        EmployeeUpdated(employee_id="e-1", record=new, changed=["department", "title"])
    ]
    assert fold([EmployeeProvisioned(employee_id="e-1", record=record()), *events]).record == new


def test_a_rising_job_level_is_a_promotion():
    _, events = employees.upsert_employee(
        provisioned(job_level=3), "e-1", record(job_level=4), TODAY
    )
    assert [type(e) for e in events] == [EmployeeUpdated, EmployeePromoted]
    promoted = events[1]
    assert isinstance(promoted, EmployeePromoted)
    assert (promoted.from_level, promoted.to_level, promoted.promoted_on) == (3, 4, TODAY)


@pytest.mark.parametrize(("before", "after"), [(4, 3), (None, 5), (5, None)])
def test_a_level_that_falls_or_appears_or_vanishes_is_no_promotion(before, after):
    state = provisioned(job_level=before)
    _, events = employees.upsert_employee(state, "e-1", record(job_level=after), TODAY)
    assert [type(e) for e in events] == [EmployeeUpdated]
    assert events[0].changed == ["job_level"]


def test_a_departure_is_recorded_once_and_repeating_it_is_harmless():
    state = provisioned()
    events = employees.depart(state, date(2025, 5, 31), "voluntary")
    assert events == [
        EmployeeDeparted(employee_id="e-1", left_on=date(2025, 5, 31), reason="voluntary")
    ]
    gone = employees.evolve(state, events[0])
    assert gone.status is EmployeeStatus.DEPARTED
    assert employees.depart(gone, date(2025, 5, 31), "voluntary") == []
    with pytest.raises(AlreadyDepartedError):
        employees.depart(gone, date(2025, 4, 1), "voluntary")


def test_deleting_a_departed_employee_restates_the_departure_as_deprovisioned():
    gone = employees.evolve(
        provisioned(), EmployeeDeparted(employee_id="e-1", left_on=TODAY, reason="involuntary")
    )
    (event,) = employees.depart(gone, date(2030, 1, 1), "other", deprovisioned=True)
    assert event == EmployeeDeparted(
        employee_id="e-1", left_on=TODAY, reason="involuntary", deprovisioned=True
    )
    deleted = employees.evolve(gone, event)
    assert deleted.deprovisioned
    assert employees.depart(deleted, TODAY, "other", deprovisioned=True) == []


def test_reinstatement_makes_a_departed_employee_active_again():
    gone = employees.evolve(
        provisioned(),
        EmployeeDeparted(employee_id="e-1", left_on=TODAY, reason="other", deprovisioned=True),
    )
    (event,) = employees.reinstate(gone, TODAY)
    assert event == EmployeeReinstated(employee_id="e-1", reinstated_on=TODAY)
    back = employees.evolve(gone, event)
    assert back.is_active
    assert not back.deprovisioned
    assert back.left_on is None
    assert employees.reinstate(back, TODAY) == []
