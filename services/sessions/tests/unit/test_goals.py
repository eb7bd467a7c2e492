from datetime import date

import pytest

from mentorship_contracts.sessions import (
    GoalAchieved,
    GoalDropped,
    GoalProgressed,
    GoalSet,
    MilestoneAdded,
)
from sessions.domain import goals as domain
from sessions.domain.errors import NotFoundError, PairNotActiveError, TransitionError

from .conftest import TODAY


def fold(events, state=None) -> domain.Goal:
    for event in events:
        state = domain.evolve(state, event)
    assert state is not None
    return state


def new_goal(context, milestones=()) -> domain.Goal:
    command = domain.SetGoal("g1", date(2025, 9, 1), tuple(milestones))
    return fold(domain.set_goal(context, command, TODAY))


def test_a_goal_is_the_mentees_and_starts_open_with_its_milestones(context):
    events = domain.set_goal(
        context,
        domain.SetGoal("g1", None, (domain.NewMilestone("m1"), domain.NewMilestone("m2"))),
        TODAY,
    )
    goal_set, *added = events
    assert isinstance(goal_set, GoalSet)
    assert (goal_set.mentee_id, goal_set.milestone_count, goal_set.set_on) == (
        "mentee-1",
        2,
        TODAY,
    )
    assert [type(e) for e in added] == [MilestoneAdded, MilestoneAdded]
    assert [e.milestone_count for e in added] == [1, 2]
    goal = fold(events)
    assert (goal.status, goal.progress, len(goal.milestones)) == ("open", 0, 2)


def test_progress_changes_are_recorded_and_unchanged_progress_is_not(context):
    goal = new_goal(context)
    [event] = domain.update_goal(goal, context, domain.UpdateGoal(progress=40), TODAY)
    assert isinstance(event, GoalProgressed)
    goal = fold([event], goal)
    assert goal.progress == 40
    assert domain.update_goal(goal, context, domain.UpdateGoal(progress=40), TODAY) == []


def test_achieving_a_goal_is_final(context):
    goal = new_goal(context)
    events = domain.update_goal(
        goal, context, domain.UpdateGoal(progress=90, status="achieved"), TODAY
    )
    assert [type(e) for e in events] == [GoalProgressed, GoalAchieved]
    achieved = fold(events, goal)
    assert (achieved.status, achieved.progress) == ("achieved", 100)
    assert domain.update_goal(achieved, context, domain.UpdateGoal(status="achieved"), TODAY) == []
    for change in (domain.UpdateGoal(status="open"), domain.UpdateGoal(progress=10)):
        with pytest.raises(TransitionError):
            domain.update_goal(achieved, context, change, TODAY)


def test_dropping_a_goal(context):
    [event] = domain.update_goal(
        new_goal(context), context, domain.UpdateGoal(status="dropped"), TODAY
    )
    assert isinstance(event, GoalDropped)
    assert event.dropped_on == TODAY


def test_milestones_are_added_and_completed_once(context):
    goal = new_goal(context, [domain.NewMilestone("m1")])
    [added] = domain.add_milestone(goal, context, domain.NewMilestone("m2", date(2025, 8, 1)))
    assert added.milestone_count == 2
    goal = fold([added], goal)
    [done] = domain.complete_milestone(goal, context, "m2")
    assert (done.milestone_id, done.milestones_done, done.progress) == ("m2", 1, 0)
    goal = fold([done], goal)
    assert goal.milestones_done == 1
    assert domain.complete_milestone(goal, context, "m2") == []
    with pytest.raises(NotFoundError):
        domain.complete_milestone(goal, context, "nope")


def test_a_closed_goal_takes_no_more_milestones(context):
    goal = new_goal(context, [domain.NewMilestone("m1")])
    dropped = fold(
        domain.update_goal(goal, context, domain.UpdateGoal(status="dropped"), TODAY), goal
    )
    with pytest.raises(TransitionError):
        domain.add_milestone(dropped, context, domain.NewMilestone("m2"))
    with pytest.raises(TransitionError):
        domain.complete_milestone(dropped, context, "m1")


def test_an_ended_pairs_goals_are_read_only(context, ended_context):
    goal = new_goal(context)
    with pytest.raises(PairNotActiveError):
        domain.update_goal(goal, ended_context, domain.UpdateGoal(progress=50), TODAY)
    with pytest.raises(PairNotActiveError):
        domain.set_goal(ended_context, domain.SetGoal("g2", None), TODAY)
