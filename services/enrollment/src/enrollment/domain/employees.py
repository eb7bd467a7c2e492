"""The employee aggregate: the directory as the HRIS describes it, over time.

The HRIS (or identity provider) is the source of truth for an employee's record; this
aggregate turns each full record it sends into facts: provisioned, updated (naming the
fields that changed), promoted (job level went up), departed, reinstated — and erased:
the person's personal data destroyed on request (GDPR art. 17). After erasure the
record's personal fields read as None and the HRIS can no longer write them; facts
that carry none (a departure, a reinstatement) are still recorded, so that figures
stay right.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum
from typing import Final, Literal

from enrollment.domain.errors import AlreadyDepartedError, EmployeeErasedError
from mentorship_contracts import EventContract
from mentorship_contracts.enrollment import (
    EmployeeDeparted,
    EmployeeErased,
    EmployeePromoted,
    EmployeeProvisioned,
    EmployeeRecord,
    EmployeeReinstated,
    EmployeeUpdated,
)

DepartureReason = Literal["voluntary", "involuntary", "other"]


class EmployeeStatus(StrEnum):
    ACTIVE = "active"
    DEPARTED = "departed"


class UpsertOutcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True, slots=True)
class Employee:
    employee_id: str
    record: EmployeeRecord
    status: EmployeeStatus = EmployeeStatus.ACTIVE
    left_on: date | None = None
    departure_reason: DepartureReason | None = None
    # The identity provider deleted the user: the history stays, SCIM no longer serves it.
    deprovisioned: bool = False
    erased_on: date | None = None

    @property
    def is_active(self) -> bool:
        return self.status is EmployeeStatus.ACTIVE

    @property
    def is_erased(self) -> bool:
        return self.erased_on is not None


def evolve(state: Employee | None, event: EventContract) -> Employee:
    match event:
        case EmployeeProvisioned():
            return Employee(event.employee_id, event.record)
        case EmployeeUpdated():
            return replace(_existing(state), record=event.record)
        case EmployeePromoted():
            # The new level arrived with the EmployeeUpdated that precedes this event.
            return _existing(state)
        case EmployeeDeparted():
            return replace(
                _existing(state),
                status=EmployeeStatus.DEPARTED,
                left_on=event.left_on,
                departure_reason=event.reason,
                deprovisioned=event.deprovisioned,
            )
        case EmployeeErased():
            existing = _existing(state)
            return replace(existing, record=_erased(existing.record), erased_on=event.erased_on)
        case EmployeeReinstated():
            return replace(
                _existing(state),
                status=EmployeeStatus.ACTIVE,
                left_on=None,
                departure_reason=None,
                deprovisioned=False,
            )
    msg = f"an employee stream holds no {event.event_type()}"
    raise TypeError(msg)


# The record's personal fields, as the contract marks them.
_PERSONAL: Final = tuple(
    path[1] for path in EmployeeProvisioned.personal_paths() if path[0] == "record"
)


def _erased(record: EmployeeRecord) -> EmployeeRecord:
    return record.model_copy(update=dict.fromkeys(_PERSONAL))


def _existing(state: Employee | None) -> Employee:
    if state is None:
        msg = "an employee event before EmployeeProvisioned"
        raise ValueError(msg)
    return state


def changed_fields(before: EmployeeRecord, after: EmployeeRecord) -> list[str]:
    """Names of the record's fields whose values differ, in declaration order."""
    return [
        name for name in type(before).model_fields if getattr(before, name) != getattr(after, name)
    ]


def upsert_employee(
    state: Employee | None, employee_id: str, record: EmployeeRecord, today: date
) -> tuple[UpsertOutcome, list[EventContract]]:
    """Take the HRIS's full record: provision, update (and promote), or nothing."""
    if state is None:
        return UpsertOutcome.CREATED, [EmployeeProvisioned(employee_id=employee_id, record=record)]
    if state.erased_on is not None:
        raise EmployeeErasedError(employee_id, state.erased_on.isoformat())
    changed = changed_fields(state.record, record)
    if not changed:
        return UpsertOutcome.UNCHANGED, []
    events: list[EventContract] = [
        EmployeeUpdated(employee_id=employee_id, record=record, changed=changed)
    ]
    before, after = state.record.job_level, record.job_level
    if before is not None and after is not None and after > before:
        events.append(
            EmployeePromoted(
                employee_id=employee_id, from_level=before, to_level=after, promoted_on=today
            )
        )
    return UpsertOutcome.UPDATED, events


def depart(
    state: Employee,
    left_on: date,
    reason: DepartureReason,
    *,
    deprovisioned: bool = False,
) -> list[EventContract]:
    """Record a departure. Repeating the same departure changes nothing.

    A departure with ``deprovisioned`` (the identity provider deleted the user) of an
    employee who already left restates that departure, marked as deprovisioned.
    """
    if state.is_active:
        return [
            EmployeeDeparted(
                employee_id=state.employee_id,
                left_on=left_on,
                reason=reason,
                deprovisioned=deprovisioned,
            )
        ]
    assert state.left_on is not None  # noqa: S101 - a departed employee has a date
    assert state.departure_reason is not None  # noqa: S101 - and a reason
    if deprovisioned and not state.deprovisioned:
        return [
            EmployeeDeparted(
                employee_id=state.employee_id,
                left_on=state.left_on,
                reason=state.departure_reason,
                deprovisioned=True,
            )
        ]
    if deprovisioned or (left_on, reason) == (state.left_on, state.departure_reason):
        return []
    raise AlreadyDepartedError(state.employee_id, state.left_on.isoformat())


def reinstate(state: Employee, today: date) -> list[EventContract]:
    """Make a departed employee active again (a rehire, or a departure undone)."""
    if state.is_active:
        return []
    return [EmployeeReinstated(employee_id=state.employee_id, reinstated_on=today)]


def erase(state: Employee, today: date) -> list[EventContract]:
    """Erase the employee's personal data; erasing again changes nothing."""
    if state.is_erased:
        return []
    return [EmployeeErased(employee_id=state.employee_id, erased_on=today)]
