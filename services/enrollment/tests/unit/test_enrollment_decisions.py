"""Applications: eligibility, automatic or manual approval, waitlist, withdrawal."""

from functools import reduce

import pytest
from enrollment_factories import TODAY, application, departed, employee, program

from enrollment.domain import enrollments
from enrollment.domain.enrollments import PROGRAM_FULL, Enrollment, EnrollmentStatus
from enrollment.domain.errors import (
    InvalidInputError,
    InvalidTransitionError,
    ProgramFullError,
    ProgramNotOpenError,
)
from enrollment.domain.programs import ProgramStatus
from mentorship_contracts.common import Profile
from mentorship_contracts.enrollment import (
    ApplicationRejected,
    ApplicationSubmitted,
    ApplicationWaitlisted,
    Eligibility,
    ParticipantEnrolled,
    ParticipantProfileUpdated,
    ParticipantWithdrew,
)


def fold(events) -> Enrollment:
    state = reduce(enrollments.evolve, events, None)
    assert state is not None
    return state


def submit(program_, employee_, role="mentee", *, enrolled_mentees=0, **profile):
    return enrollments.submit_application(
        program_,
        employee_,
        application(program_, employee_, role, **profile),
        enrolled_mentees=enrolled_mentees,
        today=TODAY,
    )


def test_auto_approval_enrolls_an_eligible_applicant_at_once():
    events = submit(program(approval="auto"), employee())
    assert [type(e) for e in events] == [ApplicationSubmitted, ParticipantEnrolled]
    assert fold(events).status is EnrollmentStatus.ENROLLED


def test_manual_approval_leaves_the_application_pending():
    events = submit(program(approval="manual"), employee())
    assert [type(e) for e in events] == [ApplicationSubmitted]
    assert fold(events).status is EnrollmentStatus.PENDING_APPROVAL


def test_an_ineligible_applicant_is_rejected_with_the_reasons():
    strict = program(eligibility=Eligibility(min_job_level=5))
    events = submit(strict, employee(job_level=2))
    assert isinstance(events[-1], ApplicationRejected)
    assert events[-1].reasons == ["job level 2 is below the minimum 5"]
    state = fold(events)
    assert state.status is EnrollmentStatus.REJECTED
    assert state.reasons == ("job level 2 is below the minimum 5",)


def test_mentors_are_held_to_their_own_rules_when_the_program_has_them():
    prog = program(
        eligibility=Eligibility(max_job_level=3), mentor_eligibility=Eligibility(min_job_level=5)
    )
    assert fold(submit(prog, employee(job_level=6), "mentor")).status is EnrollmentStatus.ENROLLED
    assert fold(submit(prog, employee(job_level=6), "mentee")).status is EnrollmentStatus.REJECTED
    assert fold(submit(prog, employee(job_level=3), "mentor")).status is EnrollmentStatus.REJECTED


def test_a_full_program_waitlists_further_mentees():
    capped = program(max_mentees=2)
    assert isinstance(submit(capped, employee(), enrolled_mentees=1)[-1], ParticipantEnrolled)
    events = submit(capped, employee(), enrolled_mentees=2)
    assert isinstance(events[-1], ApplicationWaitlisted)
    assert fold(events).status is EnrollmentStatus.WAITLISTED


def test_a_full_program_without_waitlist_rejects_further_mentees():
    events = submit(program(max_mentees=1, waitlist=False), employee(), enrolled_mentees=1)
    assert isinstance(events[-1], ApplicationRejected)
    assert events[-1].reasons == [PROGRAM_FULL]


def test_the_mentee_cap_does_not_limit_mentors():
    events = submit(program(max_mentees=1), employee(), "mentor", enrolled_mentees=5)
    assert isinstance(events[-1], ParticipantEnrolled)


def test_ineligibility_wins_over_the_waitlist():
    prog = program(max_mentees=1, eligibility=Eligibility(departments=["Sales"]))
    assert isinstance(submit(prog, employee(), enrolled_mentees=1)[-1], ApplicationRejected)


@pytest.mark.parametrize("status", [ProgramStatus.DRAFT, ProgramStatus.CLOSED])
def test_only_an_open_program_takes_applications(status):
    with pytest.raises(ProgramNotOpenError):
        submit(program(status), employee())


def test_a_mentor_capacity_defaults_to_the_programs_and_may_not_exceed_it():
    prog = program(mentor_capacity=3)
    enrolled = fold(submit(prog, employee(), "mentor"))
    assert enrolled.profile.capacity == 3
    assert fold(submit(prog, employee(), "mentor", capacity=2)).profile.capacity == 2
    with pytest.raises(InvalidInputError) as raised:
        submit(prog, employee(), "mentor", capacity=4)
    assert raised.value.field == "profile.capacity"


def test_a_mentee_states_no_capacity():
    with pytest.raises(InvalidInputError) as raised:
        submit(program(), employee(), "mentee", capacity=1)
    assert raised.value.field == "profile.capacity"


def test_approval_admits_pending_and_waitlisted_applicants():
    prog = program(approval="manual", max_mentees=1)
    pending = fold(submit(prog, employee()))
    waitlisted = fold(submit(prog, employee(), enrolled_mentees=1))
    for state in (pending, waitlisted):
        events = enrollments.approve(state, prog, enrolled_mentees=0, today=TODAY)
        assert fold([*_history(state), *events]).status is EnrollmentStatus.ENROLLED


def test_approval_refuses_a_mentee_while_the_program_is_full():
    prog = program(approval="manual", max_mentees=1)
    pending = fold(submit(prog, employee()))
    with pytest.raises(ProgramFullError):
        enrollments.approve(pending, prog, enrolled_mentees=1, today=TODAY)


def test_a_decided_application_cannot_be_approved_or_rejected():
    prog = program(eligibility=Eligibility(departments=["Sales"]))
    rejected = fold(submit(prog, employee()))
    with pytest.raises(InvalidTransitionError):
        enrollments.approve(rejected, prog, enrolled_mentees=0, today=TODAY)
    enrolled = fold(submit(program(), employee()))
    with pytest.raises(InvalidTransitionError):
        enrollments.reject(enrolled, ["no"], TODAY)


def test_withdrawal_ends_a_live_enrollment_once():
    enrolled = fold(submit(program(), employee()))
    events = enrollments.withdraw(enrolled, "self", TODAY)
    assert events == [
        ParticipantWithdrew(
            enrollment_id=enrolled.enrollment_id,
            program_id=enrolled.program_id,
            employee_id=enrolled.employee_id,
            role="mentee",
            reason="self",
            withdrew_on=TODAY,
        )
    ]
    withdrawn = fold([*_history(enrolled), *events])
    assert withdrawn.status is EnrollmentStatus.WITHDRAWN
    assert enrollments.withdraw(withdrawn, "self", TODAY) == []


def test_a_rejected_application_cannot_be_withdrawn():
    rejected = fold(submit(program(eligibility=Eligibility(departments=["Sales"])), employee()))
    with pytest.raises(InvalidTransitionError):
        enrollments.withdraw(rejected, "self", TODAY)


def test_a_departure_withdraws_live_enrollments_and_leaves_decided_ones():
    person = employee()
    live = [
        fold(submit(program(approval="auto"), person)),
        fold(submit(program(approval="manual"), person)),
        fold(submit(program(max_mentees=0), person)),
    ]
    decided = fold(submit(program(eligibility=Eligibility(departments=["Sales"])), person))
    for state in live:
        (event,) = enrollments.withdraw_for_departure(state, TODAY)
        assert isinstance(event, ParticipantWithdrew)
        assert event.reason == "departure"
    assert enrollments.withdraw_for_departure(decided, TODAY) == []


def test_an_applicant_who_left_is_rejected():
    events = submit(program(), departed(employee()))
    assert isinstance(events[-1], ApplicationRejected)


def test_a_profile_update_records_only_a_change():
    prog = program()
    enrolled = fold(submit(prog, employee(), skills_sought=["python"]))
    assert enrollments.update_profile(enrolled, prog, enrolled.profile) == []
    changed = Profile(skills_sought=["python", "rust"])
    (event,) = enrollments.update_profile(enrolled, prog, changed)
    assert isinstance(event, ParticipantProfileUpdated)
    assert fold([*_history(enrolled), event]).profile == changed


def _history(state: Enrollment):
    """Events that rebuild ``state`` (enough for these tests: submitted + its status)."""
    keys = {
        "enrollment_id": state.enrollment_id,
        "program_id": state.program_id,
        "employee_id": state.employee_id,
        "role": state.role,
    }
    history = [ApplicationSubmitted(**keys, profile=state.profile, submitted_on=TODAY)]
    if state.status is EnrollmentStatus.ENROLLED:
        history.append(ParticipantEnrolled(**keys, profile=state.profile, enrolled_on=TODAY))
    elif state.status is EnrollmentStatus.WAITLISTED:
        history.append(ApplicationWaitlisted(**keys, waitlisted_on=TODAY))
    return history
