from datetime import UTC, date, datetime, timedelta

import pytest

from mentorship_contracts.sessions import (
    SessionCancelled,
    SessionLogged,
    SessionRescheduled,
    SessionScheduled,
)
from sessions.domain import sessions as domain
from sessions.domain.dates import latest_local_date
from sessions.domain.errors import InvalidFieldError, PairNotActiveError, TransitionError
from sessions.domain.pairs import PairContext

from .conftest import NOW, TODAY, make_calendar, make_pair


def log(held_on=TODAY, **changes) -> domain.LogSession:
    values = {"session_id": "s1", "held_on": held_on, "duration_minutes": 45, "topic_count": 2}
    values.update(changes)
    return domain.LogSession(**values)


def schedule(at=NOW + timedelta(days=3)) -> domain.ScheduleSession:
    return domain.ScheduleSession("s1", at, 60, "video")


def fold(events) -> domain.Session:
    state = None
    for event in events:
        state = domain.evolve(state, event)
    assert state is not None
    return state


def scheduled_session(context, at=NOW + timedelta(days=3)) -> domain.Session:
    return fold(domain.schedule_session(context, schedule(at), NOW))


def test_logging_a_held_session_records_it_without_any_text(context):
    [event] = domain.log_session(context, log(mode="phone"), NOW)
    assert isinstance(event, SessionLogged)
    assert (event.pair_id, event.program_id, event.held_on) == ("pair-1", "prog-1", TODAY)
    assert (event.duration_minutes, event.topic_count, event.mode) == (45, 2, "phone")
    assert fold([event]).status == "held"


def test_back_dating_before_the_pair_formed_is_allowed_within_the_program(context):
    assert context.pair.formed_on == date(2025, 3, 1)
    [event] = domain.log_session(context, log(held_on=date(2025, 1, 1)), NOW)
    assert event.held_on == date(2025, 1, 1)


@pytest.mark.parametrize(
    ("held_on", "reason"),
    [
        (date(2024, 12, 31), "outside the program's dates"),
        (latest_local_date(NOW) + timedelta(days=1), "in the future"),
    ],
)
def test_a_held_session_outside_the_program_or_in_the_future_names_held_on(
    context, held_on, reason
):
    with pytest.raises(InvalidFieldError) as refused:
        domain.log_session(context, log(held_on=held_on), NOW)
    assert refused.value.field == "held_on"
    assert reason in refused.value.message


def test_a_session_held_today_somewhere_ahead_of_utc_is_not_in_the_future():
    late_evening = datetime(2025, 6, 15, 23, 0, tzinfo=UTC)
    context = PairContext(make_pair(), make_calendar())
    [event] = domain.log_session(context, log(held_on=date(2025, 6, 16)), late_evening)
    assert event.held_on == date(2025, 6, 16)


def test_without_the_programs_dates_only_the_future_is_refused():
    context = PairContext(make_pair(), None)
    [event] = domain.log_session(context, log(held_on=date(2001, 1, 1)), NOW)
    assert event.held_on == date(2001, 1, 1)


def test_a_program_without_an_end_accepts_any_later_date():
    context = PairContext(make_pair(), make_calendar(ends_on=None))
    domain.log_session(context, log(held_on=TODAY), NOW)


@pytest.mark.parametrize("status", ["ended", "proposed"])
def test_only_active_pairs_log_or_schedule(status):
    context = PairContext(make_pair(status), make_calendar())
    with pytest.raises(PairNotActiveError):
        domain.log_session(context, log(), NOW)
    with pytest.raises(PairNotActiveError):
        domain.schedule_session(context, schedule(), NOW)


def test_scheduling_then_logging_keeps_the_mode_and_defaults_the_date(context):
    at = NOW - timedelta(hours=1)
    session = domain.Session(
        "s1", "pair-1", "prog-1", "scheduled", mode="in_person", scheduled_for=at
    )
    [event] = domain.log_scheduled_session(
        session, context, domain.LogScheduledSession(None, 50, 1), NOW
    )
    assert (event.held_on, event.mode, event.duration_minutes) == (at.date(), "in_person", 50)
    assert domain.evolve(session, event).status == "held"


def test_scheduling_needs_a_future_time_within_the_program(context):
    [event] = domain.schedule_session(context, schedule(), NOW)
    assert isinstance(event, SessionScheduled)
    for at in (NOW - timedelta(minutes=1), datetime(2026, 1, 2, tzinfo=UTC)):
        with pytest.raises(InvalidFieldError) as refused:
            domain.schedule_session(context, schedule(at), NOW)
        assert refused.value.field == "scheduled_for"


def test_rescheduling_moves_the_session_and_a_same_time_move_changes_nothing(context):
    session = scheduled_session(context)
    later = NOW + timedelta(days=5)
    [event] = domain.reschedule_session(session, context, domain.RescheduleSession(later), NOW)
    assert isinstance(event, SessionRescheduled)
    assert domain.evolve(session, event).scheduled_for == later
    assert (
        domain.reschedule_session(
            session, context, domain.RescheduleSession(session.scheduled_for), NOW
        )
        == []
    )


def test_cancelling_closes_a_scheduled_session_once(context):
    session = scheduled_session(context)
    [event] = domain.cancel_session(session, context, NOW)
    assert isinstance(event, SessionCancelled)
    assert (event.outcome, event.cancelled_on) == ("cancelled", TODAY)
    cancelled = domain.evolve(session, event)
    assert cancelled.status == "cancelled"
    with pytest.raises(TransitionError):
        domain.cancel_session(cancelled, context, NOW)
    with pytest.raises(TransitionError):
        domain.log_scheduled_session(
            cancelled, context, domain.LogScheduledSession(None, 30, 0), NOW
        )


def test_a_no_show_is_only_reported_once_the_planned_time_has_come(context):
    session = scheduled_session(context)
    with pytest.raises(TransitionError):
        domain.mark_no_show(session, context, NOW)
    [event] = domain.mark_no_show(session, context, NOW + timedelta(days=4))
    assert event.outcome == "no_show"
    assert domain.evolve(session, event).status == "no_show"


def test_a_held_session_cannot_be_rescheduled_or_cancelled(context):
    held = fold(domain.log_session(context, log(), NOW))
    with pytest.raises(TransitionError):
        domain.reschedule_session(
            held, context, domain.RescheduleSession(NOW + timedelta(days=1)), NOW
        )
    with pytest.raises(TransitionError):
        domain.cancel_session(held, context, NOW)


def test_an_ended_pair_cannot_change_its_planned_sessions(context, ended_context):
    session = scheduled_session(context)
    with pytest.raises(PairNotActiveError):
        domain.cancel_session(session, ended_context, NOW)
