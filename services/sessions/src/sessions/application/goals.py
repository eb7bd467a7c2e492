"""Use cases of goals and milestones; only the pair's members set and move them."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from mentorship_contracts import EventContract
from mentorship_kit.commands import CommandTransaction, UseCase
from mentorship_kit.eventstore import NO_STREAM
from sessions.adapters import queries, texts
from sessions.adapters.queries import GoalView
from sessions.application.access import require_pair
from sessions.domain import goals as domain
from sessions.domain.errors import NotFoundError
from sessions.domain.pairs import Actor, PairContext


def stream_id(goal_id: str) -> str:
    return f"goal-{goal_id}"


@dataclass(frozen=True, slots=True)
class NewMilestone:
    title: str
    due_on: date | None = None


def set_goal(
    pair_id: str,
    *,
    title: str,
    description: str | None,
    target_date: date | None,
    milestones: Sequence[NewMilestone],
    actor: Actor,
    now: datetime,
) -> UseCase[GoalView]:
    goal_id = str(uuid.uuid4())
    new = [(str(uuid.uuid4()), milestone) for milestone in milestones]
    command = domain.SetGoal(
        goal_id=goal_id,
        target_date=target_date,
        milestones=tuple(domain.NewMilestone(key, m.due_on) for key, m in new),
    )

    async def use_case(tx: CommandTransaction) -> GoalView:
        context, _ = await require_pair(
            tx.conn, pair_id, actor, admin_allowed=False, for_write=True
        )
        events = domain.set_goal(context, command, _today(now))
        await tx.append(stream_id(goal_id), events, expected_version=NO_STREAM)
        await texts.save_goal_texts(tx.conn, goal_id, title, description)
        await texts.save_milestone_titles(tx.conn, {key: m.title for key, m in new})
        return await _read(tx, goal_id)

    return use_case


def update_goal(
    goal_id: str,
    *,
    progress: int | None,
    status: domain.GoalStatus | None,
    actor: Actor,
    now: datetime,
) -> UseCase[GoalView]:
    command = domain.UpdateGoal(progress=progress, status=status)
    return _change_goal(
        goal_id, actor, lambda goal, ctx: domain.update_goal(goal, ctx, command, _today(now))
    )


def add_milestone(goal_id: str, milestone: NewMilestone, *, actor: Actor) -> UseCase[GoalView]:
    milestone_id = str(uuid.uuid4())
    return _change_goal(
        goal_id,
        actor,
        lambda goal, ctx: domain.add_milestone(
            goal, ctx, domain.NewMilestone(milestone_id, milestone.due_on)
        ),
        titles={milestone_id: milestone.title},
    )


def complete_milestone(goal_id: str, milestone_id: str, *, actor: Actor) -> UseCase[GoalView]:
    return _change_goal(
        goal_id, actor, lambda goal, ctx: domain.complete_milestone(goal, ctx, milestone_id)
    )


Decide = Callable[[domain.Goal, PairContext], Sequence[EventContract]]


def _change_goal(
    goal_id: str, actor: Actor, decide: Decide, *, titles: dict[str, str] | None = None
) -> UseCase[GoalView]:
    async def use_case(tx: CommandTransaction) -> GoalView:
        loaded = await tx.load(stream_id(goal_id), domain.evolve)
        if loaded.state is None:
            raise NotFoundError("goal", goal_id)
        context, _ = await require_pair(
            tx.conn, loaded.state.pair_id, actor, admin_allowed=False, for_write=True
        )
        events = decide(loaded.state, context)
        await tx.append(stream_id(goal_id), events, expected_version=loaded.version)
        if events and titles:
            await texts.save_milestone_titles(tx.conn, titles)
        return await _read(tx, goal_id)

    return use_case


async def _read(tx: CommandTransaction, goal_id: str) -> GoalView:
    view = await queries.get_goal(tx.conn, goal_id, private=True)
    if view is None:
        raise NotFoundError("goal", goal_id)
    return view


def _today(now: datetime) -> date:
    return now.astimezone(UTC).date()
