"""The session aggregate: planned, moved, held, cancelled or missed.

A session is either logged directly as held (possibly back-dated) or scheduled first
and then logged, cancelled, marked a no-show or moved. Notes and topics are private to
the pair and are not part of the events: the decisions see only how many topics there
were.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Literal

from mentorship_contracts import EventContract
from mentorship_contracts.sessions import (
    Mode,
    SessionCancelled,
    SessionLogged,
    SessionRescheduled,
    SessionScheduled,
)
from sessions.domain.dates import check_held_on, check_scheduled_for
from sessions.domain.errors import TransitionError
from sessions.domain.pairs import PairContext

SessionStatus = Literal["scheduled", "held", "cancelled", "no_show"]


@dataclass(frozen=True, slots=True)
class Session:
    session_id: str
    pair_id: str
    program_id: str
    status: SessionStatus
    mode: Mode | None = None
    scheduled_for: datetime | None = None
    expected_minutes: int | None = None
    held_on: date | None = None
    duration_minutes: int | None = None
    topic_count: int = 0
    closed_on: date | None = None


@dataclass(frozen=True, slots=True)
class LogSession:
    """Record a session that was held (now or back-dated), not scheduled before."""

    session_id: str
    held_on: date
    duration_minutes: int
    topic_count: int
    mode: Mode | None = None


@dataclass(frozen=True, slots=True)
class ScheduleSession:
    session_id: str
    scheduled_for: datetime
    expected_minutes: int
    mode: Mode


@dataclass(frozen=True, slots=True)
class LogScheduledSession:
    """Record that a scheduled session was held; ``held_on`` defaults to its planned date."""

    held_on: date | None
    duration_minutes: int
    topic_count: int


@dataclass(frozen=True, slots=True)
class RescheduleSession:
    scheduled_for: datetime


def evolve(state: Session | None, event: EventContract) -> Session:
    if isinstance(event, SessionScheduled):
        return Session(
            session_id=event.session_id,
            pair_id=event.pair_id,
            program_id=event.program_id,
            status="scheduled",
            mode=event.mode,
            scheduled_for=event.scheduled_for,
            expected_minutes=event.expected_minutes,
        )
    if isinstance(event, SessionLogged):
        base = state or Session(event.session_id, event.pair_id, event.program_id, "held")
        return replace(
            base,
            status="held",
            mode=event.mode or base.mode,
            held_on=event.held_on,
            duration_minutes=event.duration_minutes,
            topic_count=event.topic_count,
        )
    if state is None:
        raise TypeError(f"{type(event).__name__} cannot start a session stream")
    if isinstance(event, SessionRescheduled):
        return replace(state, scheduled_for=event.scheduled_for)
    if isinstance(event, SessionCancelled):
        return replace(state, status=event.outcome, closed_on=event.cancelled_on)
    raise TypeError(f"{type(event).__name__} is not a session event")


def log_session(context: PairContext, command: LogSession, now: datetime) -> list[SessionLogged]:
    context.require_active()
    check_held_on(command.held_on, context.calendar, now)
    return [
        SessionLogged(
            session_id=command.session_id,
            pair_id=context.pair_id,
            program_id=context.program_id,
            held_on=command.held_on,
            duration_minutes=command.duration_minutes,
            mode=command.mode,
            topic_count=command.topic_count,
        )
    ]


def schedule_session(
    context: PairContext, command: ScheduleSession, now: datetime
) -> list[SessionScheduled]:
    context.require_active()
    check_scheduled_for(command.scheduled_for, context.calendar, now)
    return [
        SessionScheduled(
            session_id=command.session_id,
            pair_id=context.pair_id,
            program_id=context.program_id,
            scheduled_for=command.scheduled_for,
            expected_minutes=command.expected_minutes,
            mode=command.mode,
        )
    ]


def log_scheduled_session(
    session: Session, context: PairContext, command: LogScheduledSession, now: datetime
) -> list[SessionLogged]:
    context.require_active()
    planned = _require_scheduled(session, "logged as held")
    held_on = command.held_on or planned.astimezone(UTC).date()
    check_held_on(held_on, context.calendar, now)
    return [
        SessionLogged(
            session_id=session.session_id,
            pair_id=session.pair_id,
            program_id=session.program_id,
            held_on=held_on,
            duration_minutes=command.duration_minutes,
            mode=session.mode,
            topic_count=command.topic_count,
        )
    ]


def reschedule_session(
    session: Session, context: PairContext, command: RescheduleSession, now: datetime
) -> list[SessionRescheduled]:
    context.require_active()
    planned = _require_scheduled(session, "rescheduled")
    check_scheduled_for(command.scheduled_for, context.calendar, now)
    if command.scheduled_for == planned:
        return []
    return [
        SessionRescheduled(
            session_id=session.session_id,
            pair_id=session.pair_id,
            program_id=session.program_id,
            scheduled_for=command.scheduled_for,
        )
    ]


def cancel_session(session: Session, context: PairContext, now: datetime) -> list[SessionCancelled]:
    context.require_active()
    _require_scheduled(session, "cancelled")
    return [_cancelled(session, "cancelled", now)]


def mark_no_show(session: Session, context: PairContext, now: datetime) -> list[SessionCancelled]:
    """Someone did not turn up: only once the planned time has come."""
    context.require_active()
    planned = _require_scheduled(session, "marked a no-show")
    if planned > now:
        raise TransitionError(
            "session",
            session.session_id,
            f"planned for {planned.isoformat()}",
            "marked a no-show before it starts",
        )
    return [_cancelled(session, "no_show", now)]


def _require_scheduled(session: Session, action: str) -> datetime:
    if session.status != "scheduled" or session.scheduled_for is None:
        raise TransitionError("session", session.session_id, session.status, action)
    return session.scheduled_for


def _cancelled(
    session: Session, outcome: Literal["cancelled", "no_show"], now: datetime
) -> SessionCancelled:
    return SessionCancelled(
        session_id=session.session_id,
        pair_id=session.pair_id,
        program_id=session.program_id,
        outcome=outcome,
        cancelled_on=now.astimezone(UTC).date(),
    )
