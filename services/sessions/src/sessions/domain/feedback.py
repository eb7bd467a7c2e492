"""A pair's feedback record: session ratings, check-ins, exit surveys and fit checks.

One stream per pair holds every answer its members gave, so that the once-only rules
(one rating per member per session, one exit survey and one fit check per member, one
check-in per member per cadence period) are decided on a consistent state and enforced
by optimistic concurrency. Comments are private to the pair and not in the events.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Literal

from mentorship_contracts import EventContract
from mentorship_contracts.common import Role
from mentorship_contracts.sessions import (
    CheckInCompleted,
    FeedbackSubmitted,
    FitCheckFailed,
    FitCheckPassed,
)
from sessions.domain.errors import (
    AlreadyAnsweredError,
    InvalidFieldError,
    NoHeldSessionError,
    NotDueError,
    PairNotEndedError,
    TransitionError,
)
from sessions.domain.pairs import PairContext
from sessions.domain.sessions import Session

FeedbackKind = Literal["session", "checkin", "exit"]


def stream_id(pair_id: str) -> str:
    return f"feedback-{pair_id}"


@dataclass(frozen=True, slots=True)
class Respondent:
    employee_id: str
    role: Role


@dataclass(frozen=True, slots=True)
class PairFeedback:
    pair_id: str
    answered: frozenset[str] = frozenset()
    last_check_in: dict[str, date] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Rating:
    """A rating 1-5 with an optional NPS 0-10 (checked by the API's schema too)."""

    feedback_id: str
    rating: int
    nps: int | None = None


@dataclass(frozen=True, slots=True)
class SessionRating:
    feedback_id: str
    session_id: str
    rating: int
    nps: int | None = None


@dataclass(frozen=True, slots=True)
class CheckIn:
    feedback_id: str
    relationship_quality: int
    nps: int


@dataclass(frozen=True, slots=True)
class FitCheck:
    """``session_id``: the session the answer follows; the first held one when None."""

    feedback_id: str
    fits: bool
    session_id: str | None = None


def _session_key(session_id: str, respondent_id: str) -> str:
    return f"session:{session_id}:{respondent_id}"


def _exit_key(respondent_id: str) -> str:
    return f"exit:{respondent_id}"


def _fit_key(respondent_id: str) -> str:
    return f"fit:{respondent_id}"


def evolve(state: PairFeedback | None, event: EventContract) -> PairFeedback:
    if not isinstance(
        event, FeedbackSubmitted | CheckInCompleted | FitCheckFailed | FitCheckPassed
    ):
        raise TypeError(f"{type(event).__name__} is not a feedback event")
    current = state or PairFeedback(event.pair_id)
    respondent = event.respondent_id
    if isinstance(event, CheckInCompleted):
        return replace(
            current, last_check_in={**current.last_check_in, respondent: event.completed_on}
        )
    if isinstance(event, FitCheckFailed | FitCheckPassed):
        return replace(current, answered=current.answered | {_fit_key(respondent)})
    if event.kind == "session" and event.session_id is not None:
        key = _session_key(event.session_id, respondent)
    elif event.kind == "exit":
        key = _exit_key(respondent)
    else:
        return current
    return replace(current, answered=current.answered | {key})


def next_check_in_on(
    state: PairFeedback | None, context: PairContext, employee_id: str
) -> date | None:
    """When this member's next check-in is due; None when one is due now (or no cadence).

    The first check-in may be answered any time; each later one a cadence period after
    the member's previous one.
    """
    last = state.last_check_in.get(employee_id) if state is not None else None
    calendar = context.calendar
    if last is None or calendar is None or calendar.cadence_days < 1:
        return None
    return last + timedelta(days=calendar.cadence_days)


def rate_session(
    state: PairFeedback | None,
    context: PairContext,
    respondent: Respondent,
    answer: SessionRating,
    *,
    session: Session | None,
    today: date,
) -> list[EventContract]:
    """A post-session rating of a held session of this pair, once per member."""
    context.require_active()
    session_id = answer.session_id
    _require_held_session_of_pair(context, session, session_id)
    if state is not None and _session_key(session_id, respondent.employee_id) in state.answered:
        raise AlreadyAnsweredError(f"{respondent.role}'s rating of session {session_id!r}")
    rating = Rating(answer.feedback_id, answer.rating, answer.nps)
    return [_submitted(context, respondent, rating, "session", session_id, today=today)]


def check_in(
    state: PairFeedback | None,
    context: PairContext,
    respondent: Respondent,
    answer: CheckIn,
    today: date,
) -> list[EventContract]:
    """A periodic check-in: relationship quality and NPS, on the program's cadence."""
    context.require_active()
    due = next_check_in_on(state, context, respondent.employee_id)
    if due is not None and today < due:
        raise NotDueError(due.isoformat())
    rating = Rating(answer.feedback_id, answer.relationship_quality, answer.nps)
    return [
        _submitted(context, respondent, rating, "checkin", None, today=today),
        CheckInCompleted(
            feedback_id=answer.feedback_id,
            pair_id=context.pair_id,
            program_id=context.program_id,
            respondent_id=respondent.employee_id,
            respondent_role=respondent.role,
            relationship_quality=answer.relationship_quality,
            nps=answer.nps,
            completed_on=today,
        ),
    ]


def exit_survey(
    state: PairFeedback | None,
    context: PairContext,
    respondent: Respondent,
    answer: Rating,
    today: date,
) -> list[EventContract]:
    """The survey when a pair has ended, once per member."""
    if context.pair.status != "ended":
        raise PairNotEndedError(context.pair_id, context.pair.status)
    if state is not None and _exit_key(respondent.employee_id) in state.answered:
        raise AlreadyAnsweredError(f"{respondent.role}'s exit survey")
    return [_submitted(context, respondent, answer, "exit", None, today=today)]


def fit_check(
    state: PairFeedback | None,
    context: PairContext,
    respondent: Respondent,
    answer: FitCheck,
    *,
    session: Session | None,
    today: date,
) -> list[EventContract]:
    """After the first held session each member says whether the pair fits.

    ``session`` is the one the answer names, else the pair's first held session. A "no"
    is published as FitCheckFailed, on which matching offers a rematch.
    """
    context.require_active()
    if answer.session_id is not None:
        _require_held_session_of_pair(context, session, answer.session_id)
    if session is None:
        raise NoHeldSessionError(context.pair_id)
    if state is not None and _fit_key(respondent.employee_id) in state.answered:
        raise AlreadyAnsweredError(f"{respondent.role}'s fit check")
    outcome = FitCheckPassed if answer.fits else FitCheckFailed
    return [
        outcome(
            feedback_id=answer.feedback_id,
            pair_id=context.pair_id,
            program_id=context.program_id,
            respondent_id=respondent.employee_id,
            respondent_role=respondent.role,
            session_id=session.session_id,
            reported_on=today,
        )
    ]


def _require_held_session_of_pair(
    context: PairContext, session: Session | None, session_id: str
) -> Session:
    if session is None or session.pair_id != context.pair_id:
        raise InvalidFieldError("session_id", f"{session_id!r} is not a session of this pair")
    if session.status != "held":
        raise TransitionError("session", session.session_id, session.status, "rated")
    return session


def _submitted(
    context: PairContext,
    respondent: Respondent,
    answer: Rating,
    kind: FeedbackKind,
    session_id: str | None,
    *,
    today: date,
) -> FeedbackSubmitted:
    return FeedbackSubmitted(
        feedback_id=answer.feedback_id,
        pair_id=context.pair_id,
        program_id=context.program_id,
        respondent_id=respondent.employee_id,
        respondent_role=respondent.role,
        kind=kind,
        rating=answer.rating,
        nps=answer.nps,
        session_id=session_id,
        submitted_on=today,
    )
