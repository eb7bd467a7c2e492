from datetime import timedelta

import pytest

from mentorship_contracts.sessions import (
    CheckInCompleted,
    FeedbackSubmitted,
    FitCheckFailed,
    FitCheckPassed,
)
from sessions.domain import feedback as domain
from sessions.domain.errors import (
    AlreadyAnsweredError,
    InvalidFieldError,
    NoHeldSessionError,
    NotDueError,
    PairNotActiveError,
    PairNotEndedError,
    TransitionError,
)
from sessions.domain.pairs import PairContext
from sessions.domain.sessions import Session

from .conftest import TODAY, make_calendar, make_pair

MENTEE = domain.Respondent("mentee-1", "mentee")
MENTOR = domain.Respondent("mentor-1", "mentor")
HELD = Session("s1", "pair-1", "prog-1", "held", held_on=TODAY, duration_minutes=30)


def fold(events, state=None):
    for event in events:
        state = domain.evolve(state, event)
    return state


def rate(state, context, respondent=MENTEE, session=HELD, rating=4):
    answer = domain.SessionRating("f1", "s1", rating, 9)
    return domain.rate_session(state, context, respondent, answer, session=session, today=TODAY)


def test_a_session_rating_carries_numbers_and_ids_only(context):
    [event] = rate(None, context)
    assert isinstance(event, FeedbackSubmitted)
    assert set(event.to_data()) == {
        "feedback_id",
        "pair_id",
        "program_id",
        "respondent_id",
        "respondent_role",
        "kind",
        "rating",
        "nps",
        "session_id",
        "submitted_on",
    }
    assert (event.kind, event.rating, event.nps, event.session_id) == ("session", 4, 9, "s1")


def test_each_member_rates_a_session_once(context):
    state = fold(rate(None, context))
    with pytest.raises(AlreadyAnsweredError):
        rate(state, context)
    [mentor_rating] = rate(state, context, respondent=MENTOR)
    assert mentor_rating.respondent_role == "mentor"


def test_only_held_sessions_of_the_pair_can_be_rated(context):
    with pytest.raises(InvalidFieldError) as refused:
        rate(None, context, session=None)
    assert refused.value.field == "session_id"
    other_pair = Session("s1", "pair-2", "prog-1", "held")
    with pytest.raises(InvalidFieldError):
        rate(None, context, session=other_pair)
    planned = Session("s1", "pair-1", "prog-1", "scheduled")
    with pytest.raises(TransitionError):
        rate(None, context, session=planned)


def test_check_ins_follow_the_programs_cadence(context):
    answer = domain.CheckIn("f1", relationship_quality=4, nps=10)
    events = domain.check_in(None, context, MENTEE, answer, TODAY)
    assert [type(e) for e in events] == [FeedbackSubmitted, CheckInCompleted]
    submitted, completed = events
    assert (submitted.kind, submitted.rating, submitted.nps) == ("checkin", 4, 10)
    assert submitted.feedback_id == completed.feedback_id
    state = fold(events)
    due = TODAY + timedelta(days=14)
    assert domain.next_check_in_on(state, context, "mentee-1") == due
    assert domain.next_check_in_on(state, context, "mentor-1") is None
    with pytest.raises(NotDueError) as refused:
        domain.check_in(state, context, MENTEE, answer, due - timedelta(days=1))
    assert refused.value.due_on == due.isoformat()
    assert len(domain.check_in(state, context, MENTEE, answer, due)) == 2
    assert len(domain.check_in(state, context, MENTOR, answer, TODAY)) == 2


def test_without_a_known_cadence_check_ins_are_never_refused_as_early():
    context = PairContext(make_pair(), None)
    answer = domain.CheckIn("f1", 3, 5)
    state = fold(domain.check_in(None, context, MENTEE, answer, TODAY))
    assert domain.check_in(state, context, MENTEE, answer, TODAY)


def test_exit_surveys_are_for_ended_pairs_once_per_member(context, ended_context):
    answer = domain.Rating("f1", 2, 3)
    with pytest.raises(PairNotEndedError):
        domain.exit_survey(None, context, MENTEE, answer, TODAY)
    events = domain.exit_survey(None, ended_context, MENTEE, answer, TODAY)
    assert events[0].kind == "exit"
    with pytest.raises(AlreadyAnsweredError):
        domain.exit_survey(fold(events), ended_context, MENTEE, answer, TODAY)


def test_session_ratings_and_check_ins_are_closed_once_the_pair_ended(ended_context):
    with pytest.raises(PairNotActiveError):
        rate(None, ended_context)
    with pytest.raises(PairNotActiveError):
        domain.check_in(None, ended_context, MENTEE, domain.CheckIn("f", 3, 3), TODAY)


def test_a_fit_check_no_is_published_as_failed_and_yes_as_passed(context):
    [failed] = domain.fit_check(
        None, context, MENTEE, domain.FitCheck("f1", fits=False), session=HELD, today=TODAY
    )
    assert isinstance(failed, FitCheckFailed)
    assert (failed.session_id, failed.respondent_role) == ("s1", "mentee")
    [passed] = domain.fit_check(
        None, context, MENTOR, domain.FitCheck("f2", fits=True), session=HELD, today=TODAY
    )
    assert isinstance(passed, FitCheckPassed)
    with pytest.raises(AlreadyAnsweredError):
        domain.fit_check(
            fold([failed]),
            context,
            MENTEE,
            domain.FitCheck("f3", fits=True),
            session=HELD,
            today=TODAY,
        )


def test_a_fit_check_follows_a_held_session(context):
    with pytest.raises(NoHeldSessionError):
        domain.fit_check(
            None, context, MENTEE, domain.FitCheck("f1", fits=False), session=None, today=TODAY
        )
    cancelled = Session("s9", "pair-1", "prog-1", "cancelled")
    with pytest.raises(TransitionError):
        domain.fit_check(
            None,
            context,
            MENTEE,
            domain.FitCheck("f1", fits=False, session_id="s9"),
            session=cancelled,
            today=TODAY,
        )


def test_the_calendar_cadence_of_a_program_update_applies_at_once():
    context = PairContext(make_pair(), make_calendar(cadence_days=7))
    state = fold(domain.check_in(None, context, MENTEE, domain.CheckIn("f", 3, 3), TODAY))
    assert domain.next_check_in_on(state, context, "mentee-1") == TODAY + timedelta(days=7)
