"""The enrollment aggregate: one employee's application to one program in one role.

An application is always recorded (ApplicationSubmitted), then decided at once when the
rules allow: rejected with reasons when ineligible, waitlisted (or rejected) when the
program has its mentees, enrolled when the program approves automatically; otherwise it
waits for a program manager. Live applications (pending, waitlisted, enrolled) can be
withdrawn; a departure withdraws them all.

When a mentee's place frees up in a program that approves automatically, the waitlist
moves on its own (:func:`promote_waitlist`): first in line first, each applicant
checked again against the program's current rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum
from typing import Literal, TypedDict

from enrollment.domain.eligibility import ineligibility_reasons
from enrollment.domain.employees import Employee
from enrollment.domain.errors import (
    InvalidInputError,
    InvalidTransitionError,
    ProgramFullError,
    ProgramNotOpenError,
)
from enrollment.domain.programs import Program, ProgramStatus
from mentorship_contracts import EventContract
from mentorship_contracts.common import Profile, Role
from mentorship_contracts.enrollment import (
    ApplicationRejected,
    ApplicationSubmitted,
    ApplicationWaitlisted,
    ParticipantEnrolled,
    ParticipantProfileUpdated,
    ParticipantWithdrew,
)

WithdrawalReason = Literal["self", "departure", "admin", "program_closed"]
PROGRAM_FULL = "the program has reached its maximum number of mentees"


class EnrollmentStatus(StrEnum):
    PENDING_APPROVAL = "pending_approval"
    ENROLLED = "enrolled"
    WAITLISTED = "waitlisted"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


LIVE_STATUSES = frozenset(
    {EnrollmentStatus.PENDING_APPROVAL, EnrollmentStatus.ENROLLED, EnrollmentStatus.WAITLISTED}
)


@dataclass(frozen=True, slots=True)
class Enrollment:
    enrollment_id: str
    program_id: str
    employee_id: str
    role: Role
    status: EnrollmentStatus
    profile: Profile
    reasons: tuple[str, ...] = ()

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES

    @property
    def holds_mentee_place(self) -> bool:
        """An enrolled mentee: what a program's ``max_mentees`` counts."""
        return self.role == "mentee" and self.status is EnrollmentStatus.ENROLLED


@dataclass(frozen=True, slots=True)
class Application:
    """What an applicant asks for (the command)."""

    enrollment_id: str
    program_id: str
    employee_id: str
    role: Role
    profile: Profile


def evolve(state: Enrollment | None, event: EventContract) -> Enrollment:
    match event:
        case ApplicationSubmitted():
            return Enrollment(
                enrollment_id=event.enrollment_id,
                program_id=event.program_id,
                employee_id=event.employee_id,
                role=event.role,
                status=EnrollmentStatus.PENDING_APPROVAL,
                profile=event.profile,
            )
        case ParticipantEnrolled():
            return replace(
                _existing(state), status=EnrollmentStatus.ENROLLED, profile=event.profile
            )
        case ApplicationWaitlisted():
            return replace(_existing(state), status=EnrollmentStatus.WAITLISTED)
        case ApplicationRejected():
            return replace(
                _existing(state), status=EnrollmentStatus.REJECTED, reasons=tuple(event.reasons)
            )
        case ParticipantProfileUpdated():
            return replace(_existing(state), profile=event.profile)
        case ParticipantWithdrew():
            return replace(_existing(state), status=EnrollmentStatus.WITHDRAWN)
    msg = f"an enrollment stream holds no {event.event_type()}"
    raise TypeError(msg)


def _existing(state: Enrollment | None) -> Enrollment:
    if state is None:
        msg = "an enrollment event before ApplicationSubmitted"
        raise ValueError(msg)
    return state


class _Keys(TypedDict):
    enrollment_id: str
    program_id: str
    employee_id: str
    role: Role


def _keys(state: Enrollment | Application) -> _Keys:
    return {
        "enrollment_id": state.enrollment_id,
        "program_id": state.program_id,
        "employee_id": state.employee_id,
        "role": state.role,
    }


def checked_profile(program: Program, role: Role, profile: Profile) -> Profile:
    """The profile as the program keeps it: a mentor's capacity defaults to the program's."""
    capacity_limit = program.settings.mentor_capacity
    if role == "mentee":
        if profile.capacity is not None:
            raise InvalidInputError("profile.capacity", "only mentors state a capacity")
        return profile
    if profile.capacity is None:
        return profile.model_copy(update={"capacity": capacity_limit})
    if profile.capacity > capacity_limit:
        raise InvalidInputError(
            "profile.capacity", f"must not exceed the program's mentor capacity {capacity_limit}"
        )
    return profile


def submit_application(
    program: Program,
    employee: Employee,
    application: Application,
    *,
    enrolled_mentees: int,
    today: date,
) -> list[EventContract]:
    """Record the application and decide it as far as the program's rules allow."""
    if program.status is not ProgramStatus.OPEN:
        raise ProgramNotOpenError(program.program_id, program.status)
    profile = checked_profile(program, application.role, application.profile)
    keys = _keys(application)
    events: list[EventContract] = [
        ApplicationSubmitted(**keys, profile=profile, submitted_on=today)
    ]
    reasons = ineligibility_reasons(program.rules_for(application.role), employee, today)
    if reasons:
        events.append(ApplicationRejected(**keys, reasons=reasons, rejected_on=today))
    elif application.role == "mentee" and program.is_full_for_mentees(enrolled_mentees):
        if program.settings.waitlist:
            events.append(ApplicationWaitlisted(**keys, waitlisted_on=today))
        else:
            events.append(ApplicationRejected(**keys, reasons=[PROGRAM_FULL], rejected_on=today))
    elif program.settings.approval == "auto":
        events.append(ParticipantEnrolled(**keys, profile=profile, enrolled_on=today))
    return events


def approve(
    state: Enrollment, program: Program, *, enrolled_mentees: int, today: date
) -> list[EventContract]:
    """Admit a pending or waitlisted applicant, if a place is free for a mentee."""
    if state.status is EnrollmentStatus.ENROLLED:
        return []
    if state.status not in {EnrollmentStatus.PENDING_APPROVAL, EnrollmentStatus.WAITLISTED}:
        raise InvalidTransitionError(_name(state), state.status, "approved")
    if state.role == "mentee" and program.is_full_for_mentees(enrolled_mentees):
        assert program.settings.max_mentees is not None  # noqa: S101 - full implies a cap
        raise ProgramFullError(program.program_id, program.settings.max_mentees)
    return [ParticipantEnrolled(**_keys(state), profile=state.profile, enrolled_on=today)]


def promote_from_waitlist(
    state: Enrollment, program: Program, employee: Employee, today: date
) -> list[EventContract]:
    """A place is free for this waitlisted applicant: enroll them if the program's current
    rules still admit them, otherwise reject them with the reasons.

    Rejecting (rather than leaving them waiting) tells the applicant why at once, as an
    ineligible application is told at submission, and keeps an applicant who cannot be
    admitted from being re-examined each time a place frees up; once eligible again
    they may apply again (a rejected application is not live).
    """
    if state.status is not EnrollmentStatus.WAITLISTED:
        return []
    reasons = ineligibility_reasons(program.rules_for(state.role), employee, today)
    if reasons:
        return [ApplicationRejected(**_keys(state), reasons=reasons, rejected_on=today)]
    return [
        ParticipantEnrolled(
            **_keys(state), profile=state.profile, enrolled_on=today, from_waitlist=True
        )
    ]


def promote_waitlist(
    program: Program,
    queue: Sequence[tuple[Enrollment, Employee]],
    *,
    enrolled_mentees: int,
    today: date,
) -> list[tuple[Enrollment, list[EventContract]]]:
    """Fill the program's free mentee places from ``queue`` (the waitlist, first in line
    first): as many enrolled as now fit; the ineligible met on the way are rejected.

    Nothing moves unless the program approves automatically (with manual approval the
    manager picks from the waitlist).
    """
    if not program.promotes_from_waitlist:
        return []
    free = program.free_mentee_places(enrolled_mentees)
    decided: list[tuple[Enrollment, list[EventContract]]] = []
    for state, employee in queue:
        if free == 0:
            break
        events = promote_from_waitlist(state, program, employee, today)
        if not events:
            continue
        decided.append((state, events))
        if free is not None and isinstance(events[0], ParticipantEnrolled):
            free -= 1
    return decided


def reject(state: Enrollment, reasons: list[str], today: date) -> list[EventContract]:
    """Turn down a pending or waitlisted applicant."""
    if state.status is EnrollmentStatus.REJECTED:
        return []
    if state.status not in {EnrollmentStatus.PENDING_APPROVAL, EnrollmentStatus.WAITLISTED}:
        raise InvalidTransitionError(_name(state), state.status, "rejected")
    return [ApplicationRejected(**_keys(state), reasons=reasons, rejected_on=today)]


def withdraw(state: Enrollment, reason: WithdrawalReason, today: date) -> list[EventContract]:
    """Leave the program (or drop the application). Withdrawing twice changes nothing."""
    if state.status is EnrollmentStatus.WITHDRAWN:
        return []
    if not state.is_live:
        raise InvalidTransitionError(_name(state), state.status, "withdrawn")
    return [ParticipantWithdrew(**_keys(state), reason=reason, withdrew_on=today)]


def withdraw_for_departure(state: Enrollment, today: date) -> list[EventContract]:
    """The employee left: every live enrollment ends, whatever its status."""
    if not state.is_live:
        return []
    return [ParticipantWithdrew(**_keys(state), reason="departure", withdrew_on=today)]


def update_profile(state: Enrollment, program: Program, profile: Profile) -> list[EventContract]:
    if not state.is_live:
        raise InvalidTransitionError(_name(state), state.status, "changed")
    checked = checked_profile(program, state.role, profile)
    if checked == state.profile:
        return []
    return [ParticipantProfileUpdated(**_keys(state), profile=checked)]


def _name(state: Enrollment) -> str:
    return f"enrollment {state.enrollment_id}"
