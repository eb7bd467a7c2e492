"""The goal aggregate: the mentee's goal, agreed with the mentor, with milestones.

A goal is open until it is achieved or dropped; both are final. Progress (0-100) is
set by the pair; completing a milestone is recorded as progress too (with the
milestone's id). Titles and descriptions are private to the pair and not in the events.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Literal

from mentorship_contracts import EventContract
from mentorship_contracts.sessions import (
    GoalAchieved,
    GoalDropped,
    GoalProgressed,
    GoalSet,
    MilestoneAdded,
)
from sessions.domain.errors import NotFoundError, TransitionError
from sessions.domain.pairs import PairContext

GoalStatus = Literal["open", "achieved", "dropped"]


@dataclass(frozen=True, slots=True)
class Milestone:
    milestone_id: str
    due_on: date | None = None
    done: bool = False


@dataclass(frozen=True, slots=True)
class Goal:
    goal_id: str
    pair_id: str
    program_id: str
    mentee_id: str
    status: GoalStatus
    progress: int = 0
    target_date: date | None = None
    milestones: tuple[Milestone, ...] = ()

    @property
    def milestones_done(self) -> int:
        return sum(1 for milestone in self.milestones if milestone.done)

    def milestone(self, milestone_id: str) -> Milestone:
        for milestone in self.milestones:
            if milestone.milestone_id == milestone_id:
                return milestone
        raise NotFoundError("milestone", milestone_id)


@dataclass(frozen=True, slots=True)
class NewMilestone:
    milestone_id: str
    due_on: date | None = None


@dataclass(frozen=True, slots=True)
class SetGoal:
    goal_id: str
    target_date: date | None
    milestones: tuple[NewMilestone, ...] = ()


@dataclass(frozen=True, slots=True)
class UpdateGoal:
    """Change progress and/or status; absent fields stay as they are."""

    progress: int | None = None
    status: GoalStatus | None = None


def evolve(state: Goal | None, event: EventContract) -> Goal:
    if isinstance(event, GoalSet):
        return Goal(
            goal_id=event.goal_id,
            pair_id=event.pair_id,
            program_id=event.program_id,
            mentee_id=event.mentee_id,
            status="open",
            target_date=event.target_date,
        )
    if state is None:
        raise TypeError(f"{type(event).__name__} cannot start a goal stream")
    if isinstance(event, MilestoneAdded):
        added = Milestone(event.milestone_id, event.due_on)
        return replace(state, milestones=(*state.milestones, added))
    if isinstance(event, GoalProgressed):
        milestones = tuple(
            replace(m, done=True) if m.milestone_id == event.milestone_id else m
            for m in state.milestones
        )
        return replace(state, progress=event.progress, milestones=milestones)
    if isinstance(event, GoalAchieved):
        return replace(state, status="achieved", progress=100)
    if isinstance(event, GoalDropped):
        return replace(state, status="dropped")
    raise TypeError(f"{type(event).__name__} is not a goal event")


def set_goal(context: PairContext, command: SetGoal, today: date) -> list[EventContract]:
    """The goal is always the mentee's, whichever member writes it down."""
    context.require_active()
    events: list[EventContract] = [
        GoalSet(
            goal_id=command.goal_id,
            pair_id=context.pair_id,
            program_id=context.program_id,
            mentee_id=context.pair.mentee_id,
            target_date=command.target_date,
            milestone_count=len(command.milestones),
            set_on=today,
        )
    ]
    events.extend(
        _milestone_added(command.goal_id, context, milestone, count)
        for count, milestone in enumerate(command.milestones, start=1)
    )
    return events


def update_goal(
    goal: Goal, context: PairContext, command: UpdateGoal, today: date
) -> list[EventContract]:
    context.require_active()
    if command.status == "open" and command.progress is None and goal.status == "open":
        return []
    if goal.status != "open":
        if command.status == goal.status and command.progress is None:
            return []
        raise TransitionError("goal", goal.goal_id, goal.status, "changed")
    events: list[EventContract] = []
    if command.progress is not None and command.progress != goal.progress:
        events.append(_progressed(goal, command.progress, goal.milestones_done, None))
    if command.status == "achieved":
        events.append(
            GoalAchieved(
                goal_id=goal.goal_id,
                pair_id=goal.pair_id,
                program_id=goal.program_id,
                achieved_on=today,
            )
        )
    elif command.status == "dropped":
        events.append(
            GoalDropped(
                goal_id=goal.goal_id,
                pair_id=goal.pair_id,
                program_id=goal.program_id,
                dropped_on=today,
            )
        )
    return events


def add_milestone(
    goal: Goal, context: PairContext, milestone: NewMilestone
) -> list[MilestoneAdded]:
    context.require_active()
    _require_open(goal, "given a milestone")
    return [_milestone_added(goal.goal_id, context, milestone, len(goal.milestones) + 1)]


def complete_milestone(goal: Goal, context: PairContext, milestone_id: str) -> list[GoalProgressed]:
    """Completing a completed milestone changes nothing (a retry is harmless)."""
    context.require_active()
    milestone = goal.milestone(milestone_id)
    if milestone.done:
        return []
    _require_open(goal, "progressed")
    return [_progressed(goal, goal.progress, goal.milestones_done + 1, milestone_id)]


def _require_open(goal: Goal, action: str) -> None:
    if goal.status != "open":
        raise TransitionError("goal", goal.goal_id, goal.status, action)


def _progressed(
    goal: Goal, progress: int, milestones_done: int, milestone_id: str | None
) -> GoalProgressed:
    return GoalProgressed(
        goal_id=goal.goal_id,
        pair_id=goal.pair_id,
        program_id=goal.program_id,
        progress=progress,
        milestones_done=milestones_done,
        milestone_id=milestone_id,
    )


def _milestone_added(
    goal_id: str, context: PairContext, milestone: NewMilestone, count: int
) -> MilestoneAdded:
    return MilestoneAdded(
        goal_id=goal_id,
        pair_id=context.pair_id,
        program_id=context.program_id,
        milestone_id=milestone.milestone_id,
        due_on=milestone.due_on,
        milestone_count=count,
    )
