"""Request and response bodies of the sessions API.

Privacy in the answers: ``notes``, ``topics``, ``comment``, goal and milestone titles
and descriptions are filled for the pair's members only; for anyone else (admins) they
are ``null``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from mentorship_contracts.common import Tag
from mentorship_contracts.sessions import Mode
from sessions.adapters.queries import FeedbackView, GoalView, MilestoneView, SessionView
from sessions.adapters.tables import TEXT_LENGTH, TITLE_LENGTH
from sessions.application.queries import PairOverview

Minutes = Annotated[int, Field(ge=1, le=24 * 60, description="Minutes, 1 to 1440.")]
Rating = Annotated[int, Field(ge=1, le=5, description="1 (poor) to 5 (excellent).")]
Nps = Annotated[int, Field(ge=0, le=10, description="Would recommend: 0 to 10.")]
Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=TITLE_LENGTH, pattern=r"\S"),
]
Text = Annotated[str, StringConstraints(max_length=TEXT_LENGTH)]
Comment = Annotated[str, StringConstraints(max_length=2000)]
Identifier = Annotated[str, StringConstraints(min_length=1, max_length=200)]

PRIVATE = "Visible to the pair's members only; null for anyone else."


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- sessions ---------------------------------------------------------------------------


class NewSession(_In):
    """A held session (``held_on``, default today) or a planned one (``scheduled_for``)."""

    status: Literal["held", "scheduled"]
    held_on: date | None = Field(
        default=None,
        description="status held: the day it took place, within the program's dates "
        "(back-dating allowed), never in the future. Defaults to today (UTC).",
    )
    scheduled_for: AwareDatetime | None = Field(
        default=None, description="status scheduled (required): when, in the future."
    )
    duration_minutes: Minutes = Field(
        description="status held: how long it took; status scheduled: how long it should."
    )
    mode: Mode | None = Field(
        default=None, description="video, in_person or phone; a planned session defaults to video."
    )
    topics: list[Tag] = Field(default_factory=list, max_length=20, description=PRIVATE)
    notes: Text | None = Field(default=None, description=PRIVATE)

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "status": "held",
                    "held_on": "2025-03-04",
                    "duration_minutes": 45,
                    "topics": ["career path"],
                    "notes": "Talked about the next review.",
                }
            ]
        },
    )


class LogHeld(_In):
    """A planned session took place."""

    held_on: date | None = Field(default=None, description="Defaults to the planned day.")
    duration_minutes: Minutes
    topics: list[Tag] = Field(default_factory=list, max_length=20, description=PRIVATE)
    notes: Text | None = Field(default=None, description=PRIVATE)


class Reschedule(_In):
    scheduled_for: AwareDatetime


class SessionOut(BaseModel):
    session_id: str
    pair_id: str
    program_id: str
    status: Literal["scheduled", "held", "cancelled", "no_show"]
    mode: Mode | None
    scheduled_for: datetime | None
    expected_minutes: int | None
    held_on: date | None
    duration_minutes: int | None
    topic_count: int
    closed_on: date | None
    created_at: datetime
    topics: list[str] | None = Field(description=PRIVATE)
    notes: str | None = Field(description=PRIVATE)

    @classmethod
    def of(cls, view: SessionView) -> SessionOut:
        return cls.model_validate(view, from_attributes=True)


# -- goals ------------------------------------------------------------------------------


class NewMilestone(_In):
    title: Title = Field(description=PRIVATE)
    due_on: date | None = None


class NewGoal(_In):
    title: Title = Field(description=PRIVATE)
    description: Text | None = Field(default=None, description=PRIVATE)
    target_date: date | None = None
    milestones: list[NewMilestone] = Field(default_factory=list, max_length=50)


class GoalChange(_In):
    """Absent fields stay as they are; achieved and dropped are final."""

    progress: int | None = Field(default=None, ge=0, le=100)
    status: Literal["open", "achieved", "dropped"] | None = None


class MilestoneOut(BaseModel):
    milestone_id: str
    position: int
    due_on: date | None
    done: bool
    title: str | None = Field(description=PRIVATE)

    @classmethod
    def of(cls, view: MilestoneView) -> MilestoneOut:
        return cls.model_validate(view, from_attributes=True)


class GoalOut(BaseModel):
    goal_id: str
    pair_id: str
    program_id: str
    mentee_id: str = Field(description="The goal's owner.")
    status: Literal["open", "achieved", "dropped"]
    progress: int
    target_date: date | None
    set_on: date
    closed_on: date | None
    milestone_count: int
    milestones_done: int
    milestones: list[MilestoneOut]
    title: str | None = Field(description=PRIVATE)
    description: str | None = Field(description=PRIVATE)

    @classmethod
    def of(cls, view: GoalView) -> GoalOut:
        return cls.model_validate(view, from_attributes=True)


# -- feedback ---------------------------------------------------------------------------


class NewFeedback(_In):
    """``session``: after a held session (``session_id`` required); ``checkin``: the
    periodic survey (``rating`` = relationship quality, ``nps`` required); ``exit``: when
    the pair has ended."""

    kind: Literal["session", "checkin", "exit"]
    rating: Rating
    nps: Nps | None = None
    comment: Comment | None = Field(default=None, description=PRIVATE)
    session_id: Identifier | None = None


class NewCheckIn(_In):
    relationship_quality: Rating
    nps: Nps
    comment: Comment | None = Field(default=None, description=PRIVATE)


class NewFitCheck(_In):
    """Does the pair fit, after its first session? A "no" lets matching offer a rematch."""

    fits: bool
    session_id: Identifier | None = Field(
        default=None, description="The session it follows; default: the first held one."
    )
    comment: Comment | None = Field(default=None, description=PRIVATE)


class FeedbackOut(BaseModel):
    feedback_id: str
    pair_id: str
    program_id: str
    respondent_id: str
    respondent_role: Literal["mentor", "mentee"]
    kind: Literal["session", "checkin", "exit", "fit_check"]
    rating: int | None
    nps: int | None
    fits: bool | None
    session_id: str | None
    submitted_on: date
    created_at: datetime
    comment: str | None = Field(description=PRIVATE)

    @classmethod
    def of(cls, view: FeedbackView) -> FeedbackOut:
        return cls.model_validate(view, from_attributes=True)


# -- pairs ------------------------------------------------------------------------------


class ProgramDates(BaseModel):
    starts_on: date
    ends_on: date | None
    cadence_days: int


class PairOut(BaseModel):
    pair_id: str
    program_id: str
    mentor_id: str
    mentee_id: str
    status: Literal["proposed", "active", "declined", "ended"]
    formed_on: date | None
    ended_on: date | None
    end_reason: str | None
    program: ProgramDates | None = Field(description="null until the program's event arrived.")
    next_check_in_on: dict[str, date | None] = Field(
        description="Per member (employee id): when their next check-in is due; null = now."
    )

    @classmethod
    def of(cls, overview: PairOverview) -> PairOut:
        pair, calendar = overview.pair, overview.calendar
        return cls(
            pair_id=pair.pair_id,
            program_id=pair.program_id,
            mentor_id=pair.mentor_id,
            mentee_id=pair.mentee_id,
            status=pair.status,
            formed_on=pair.formed_on,
            ended_on=pair.ended_on,
            end_reason=pair.end_reason,
            program=ProgramDates(
                starts_on=calendar.starts_on,
                ends_on=calendar.ends_on,
                cadence_days=calendar.cadence_days,
            )
            if calendar is not None
            else None,
            next_check_in_on=overview.next_check_in_on,
        )
