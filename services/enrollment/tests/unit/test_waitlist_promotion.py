"""The waitlist moves on its own: a freed place goes to the first in line, if eligible."""

from functools import reduce

import pytest
from enrollment_factories import TODAY, application, departed, employee, program

from enrollment.domain import enrollments
from enrollment.domain.enrollments import Enrollment, EnrollmentStatus
from enrollment.domain.programs import Program, ProgramStatus
from mentorship_contracts.enrollment import (
    ApplicationRejected,
    Eligibility,
    ParticipantEnrolled,
)


def waitlisted(program_: Program, employee_=None) -> tuple[Enrollment, object]:
    """A mentee waitlisted by a full program (as applying to it would have done)."""
    person = employee_ or employee()
    events = enrollments.submit_application(
        program_,
        person,
        application(program_, person),
        enrolled_mentees=program_.settings.max_mentees or 0,
        today=TODAY,
    )
    state = reduce(enrollments.evolve, events, None)
    assert state is not None
    assert state.status is EnrollmentStatus.WAITLISTED
    return state, person


def promoted_ids(decided):
    return [
        state.enrollment_id
        for state, events in decided
        if isinstance(events[0], ParticipantEnrolled)
    ]


def test_a_freed_place_goes_to_the_first_in_line_marked_as_from_the_waitlist():
    full = program(max_mentees=2)
    queue = [waitlisted(full) for _ in range(3)]

    decided = enrollments.promote_waitlist(full, queue, enrolled_mentees=1, today=TODAY)

    assert promoted_ids(decided) == [queue[0][0].enrollment_id]
    (event,) = decided[0][1]
    assert isinstance(event, ParticipantEnrolled)
    assert event.from_waitlist is True
    assert event.profile == queue[0][0].profile
    assert event.enrolled_on == TODAY


def test_as_many_as_now_fit_are_enrolled_and_a_removed_cap_admits_everyone():
    full = program(max_mentees=2)
    queue = [waitlisted(full) for _ in range(4)]
    raised = Program(
        full.program_id, full.settings.model_copy(update={"max_mentees": 5}), full.status
    )
    uncapped = Program(
        full.program_id, full.settings.model_copy(update={"max_mentees": None}), full.status
    )

    assert len(enrollments.promote_waitlist(raised, queue, enrolled_mentees=2, today=TODAY)) == 3
    assert len(enrollments.promote_waitlist(uncapped, queue, enrolled_mentees=2, today=TODAY)) == 4


def test_no_free_place_promotes_no_one():
    full = program(max_mentees=2)
    queue = [waitlisted(full)]

    assert enrollments.promote_waitlist(full, queue, enrolled_mentees=2, today=TODAY) == []
    assert enrollments.promote_waitlist(full, queue, enrolled_mentees=3, today=TODAY) == []


def test_an_applicant_the_current_rules_refuse_is_rejected_and_the_next_one_moves_up():
    full = program(max_mentees=1)
    moved_away = waitlisted(full, employee(department="Finance"))
    gone = waitlisted(full)
    gone = (gone[0], departed(gone[1]))
    next_in_line = waitlisted(full)
    tightened = Program(
        full.program_id,
        full.settings.model_copy(update={"eligibility": Eligibility(departments=["Engineering"])}),
        full.status,
    )

    decided = enrollments.promote_waitlist(
        tightened, [moved_away, gone, next_in_line], enrolled_mentees=0, today=TODAY
    )

    assert [type(events[0]) for _, events in decided] == [
        ApplicationRejected,
        ApplicationRejected,
        ParticipantEnrolled,
    ]
    assert "department 'Finance' is not eligible" in decided[0][1][0].reasons[0]
    assert "left the organisation" in decided[1][1][0].reasons[0]
    assert promoted_ids(decided) == [next_in_line[0].enrollment_id]


@pytest.mark.parametrize(
    ("approval", "status"),
    [("manual", ProgramStatus.OPEN), ("auto", ProgramStatus.ARCHIVED)],
)
def test_manual_approval_or_an_archived_program_promotes_no_one(approval, status):
    full = program(max_mentees=1, approval=approval)
    queue = [waitlisted(full)]
    shown = Program(full.program_id, full.settings, status)

    assert enrollments.promote_waitlist(shown, queue, enrolled_mentees=0, today=TODAY) == []


def test_a_closed_program_still_fills_its_places_from_its_waitlist():
    full = program(max_mentees=1)
    queue = [waitlisted(full)]
    closed = Program(full.program_id, full.settings, ProgramStatus.CLOSED)

    assert len(enrollments.promote_waitlist(closed, queue, enrolled_mentees=0, today=TODAY)) == 1


def test_an_application_no_longer_waitlisted_is_passed_over():
    full = program(max_mentees=1)
    state, person = waitlisted(full)
    withdrawn = reduce(enrollments.evolve, enrollments.withdraw(state, "self", TODAY), state)
    second = waitlisted(full)

    decided = enrollments.promote_waitlist(
        full, [(withdrawn, person), second], enrolled_mentees=0, today=TODAY
    )

    assert promoted_ids(decided) == [second[0].enrollment_id]
