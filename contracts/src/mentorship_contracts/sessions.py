"""Events published by the sessions service.

Privacy rule: these events carry ids, dates, numbers and ratings — never notes, comments,
goal texts or other free text. Those stay in the sessions service, visible to the pair.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import ClassVar, Literal

from pydantic import Field

from mentorship_contracts.base import EventContract, registry
from mentorship_contracts.common import EmployeeId, Role

SERVICE = "sessions"

Mode = Literal["video", "in_person", "phone"]


class _SessionEvent(EventContract):
    service: ClassVar[str] = SERVICE
    aggregate: ClassVar[str] = "session"
    session_id: str
    pair_id: str
    program_id: str


class SessionScheduled(_SessionEvent):
    """A session was planned."""

    action: ClassVar[str] = "scheduled"
    scheduled_for: datetime
    expected_minutes: int = Field(ge=1, le=24 * 60)
    mode: Mode


class SessionRescheduled(_SessionEvent):
    """A planned session moved."""

    action: ClassVar[str] = "rescheduled"
    scheduled_for: datetime


class SessionLogged(_SessionEvent):
    """A session was held (logged when it happened, or back-dated)."""

    action: ClassVar[str] = "logged"
    held_on: date
    duration_minutes: int = Field(ge=1, le=24 * 60)
    mode: Mode | None = None
    topic_count: int = Field(ge=0)


class SessionCancelled(_SessionEvent):
    """A planned session did not take place."""

    action: ClassVar[str] = "cancelled"
    outcome: Literal["cancelled", "no_show"]
    cancelled_on: date


class _GoalEvent(EventContract):
    service: ClassVar[str] = SERVICE
    aggregate: ClassVar[str] = "goal"
    goal_id: str
    pair_id: str
    program_id: str


class GoalSet(_GoalEvent):
    """The mentee set a goal, agreed with the mentor."""

    action: ClassVar[str] = "set"
    mentee_id: EmployeeId
    target_date: date | None
    milestone_count: int = Field(ge=0)
    set_on: date


class MilestoneAdded(_GoalEvent):
    """A milestone was added to a goal (at its creation or later)."""

    action: ClassVar[str] = "milestone_added"
    milestone_id: str
    due_on: date | None = None
    milestone_count: int = Field(ge=1, description="Milestones of the goal after this one.")


class GoalProgressed(_GoalEvent):
    """A goal's progress changed, or one of its milestones was completed."""

    action: ClassVar[str] = "progressed"
    progress: int = Field(ge=0, le=100)
    milestones_done: int = Field(ge=0)
    milestone_id: str | None = Field(
        default=None, description="The milestone whose completion this records, if any."
    )


class GoalAchieved(_GoalEvent):
    """A goal was reached."""

    action: ClassVar[str] = "achieved"
    achieved_on: date


class GoalDropped(_GoalEvent):
    """A goal was abandoned."""

    action: ClassVar[str] = "dropped"
    dropped_on: date


class _FeedbackEvent(EventContract):
    service: ClassVar[str] = SERVICE
    aggregate: ClassVar[str] = "feedback"
    feedback_id: str
    pair_id: str
    program_id: str
    respondent_id: EmployeeId
    respondent_role: Role


class FeedbackSubmitted(_FeedbackEvent):
    """A rating after a session, at a check-in or at the end of a pair."""

    action: ClassVar[str] = "submitted"
    kind: Literal["session", "checkin", "exit"]
    rating: int = Field(ge=1, le=5)
    nps: int | None = Field(default=None, ge=0, le=10)
    session_id: str | None = None
    submitted_on: date


class CheckInCompleted(_FeedbackEvent):
    """A periodic check-in survey was answered.

    It accompanies the ``FeedbackSubmitted`` (kind ``checkin``, same ``feedback_id``,
    rating = relationship quality) of the same answer: count ratings and NPS answers from
    ``FeedbackSubmitted``; this event marks the check-in cadence.
    """

    action: ClassVar[str] = "checkin_completed"
    relationship_quality: int = Field(ge=1, le=5)
    nps: int = Field(ge=0, le=10)
    completed_on: date


class FitCheckFailed(_FeedbackEvent):
    """After the first session a member said the pair does not fit; matching offers a rematch."""

    action: ClassVar[str] = "fit_check_failed"
    session_id: str | None = None
    reported_on: date


class FitCheckPassed(_FeedbackEvent):
    """After the first session a member said the pair fits."""

    action: ClassVar[str] = "fit_check_passed"
    session_id: str | None = None
    reported_on: date


registry().register(
    SessionScheduled,
    SessionRescheduled,
    SessionLogged,
    SessionCancelled,
    GoalSet,
    MilestoneAdded,
    GoalProgressed,
    GoalAchieved,
    GoalDropped,
    FeedbackSubmitted,
    CheckInCompleted,
    FitCheckFailed,
    FitCheckPassed,
)
