"""Goals and milestones: the mentee's goals, agreed with the mentor (the pair's members)."""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import APIRouter, Path
from fastapi.responses import Response

from mentorship_kit.commands import UseCase
from mentorship_kit.context import ContextDep
from mentorship_kit.endpoints import CommandDep
from mentorship_kit.pagination import Page, PageQuery
from sessions.adapters.queries import GoalView
from sessions.application import goals as use_cases
from sessions.application import queries
from sessions.entrypoints.api.commands import execute
from sessions.entrypoints.api.deps import ROUTER_DEPENDENCIES, ActorDep, utc_now
from sessions.entrypoints.api.errors import (
    LIST_PROBLEMS,
    READ_PROBLEMS,
    WRITE_PROBLEMS,
)
from sessions.entrypoints.api.schemas import GoalChange, GoalOut, NewGoal, NewMilestone
from sessions.entrypoints.api.telemetry import count_goal

log = structlog.get_logger(__name__)

router = APIRouter(tags=["goals"], dependencies=ROUTER_DEPENDENCIES)

PairId = Annotated[str, Path(min_length=1, max_length=200)]
GoalId = Annotated[str, Path(min_length=1, max_length=200)]
MilestoneId = Annotated[str, Path(min_length=1, max_length=200)]


@router.post(
    "/v1/pairs/{pair_id}/goals",
    status_code=201,
    response_model=GoalOut,
    responses=WRITE_PROBLEMS,
    summary="Set a goal of the mentee (the pair's members)",
)
async def set_goal(
    pair_id: PairId, body: NewGoal, command: CommandDep, actor: ActorDep
) -> Response:
    use_case = use_cases.set_goal(
        pair_id,
        title=body.title,
        description=body.description,
        target_date=body.target_date,
        milestones=[use_cases.NewMilestone(m.title, m.due_on) for m in body.milestones],
        actor=actor,
        now=utc_now(),
    )
    return await _run(command, use_case, "set", status_code=201)


@router.get(
    "/v1/pairs/{pair_id}/goals",
    response_model=Page[GoalOut],
    responses=LIST_PROBLEMS,
    summary="The pair's goals with their milestones (the pair's members)",
)
async def list_goals(
    pair_id: PairId, context: ContextDep, actor: ActorDep, page: PageQuery
) -> Page[GoalOut]:
    views = await queries.goals_of_pair(
        context.engine, pair_id, actor, after=page.keyset(), limit=page.limit + 1
    )
    return page.keyset_page(views, lambda v: (v.created_at, v.goal_id), GoalOut.of)


@router.get(
    "/v1/goals/{goal_id}",
    response_model=GoalOut,
    responses=READ_PROBLEMS,
    summary="One goal (the pair's members)",
)
async def get_goal(goal_id: GoalId, context: ContextDep, actor: ActorDep) -> GoalOut:
    return GoalOut.of(await queries.goal(context.engine, goal_id, actor))


@router.patch(
    "/v1/goals/{goal_id}",
    response_model=GoalOut,
    responses=WRITE_PROBLEMS,
    summary="Record progress, or mark achieved or dropped (the pair's members)",
)
async def change_goal(
    goal_id: GoalId, body: GoalChange, command: CommandDep, actor: ActorDep
) -> Response:
    use_case = use_cases.update_goal(
        goal_id, progress=body.progress, status=body.status, actor=actor, now=utc_now()
    )
    change = "progressed" if body.status in {None, "open"} else str(body.status)
    return await _run(command, use_case, change)


@router.post(
    "/v1/goals/{goal_id}/milestones",
    status_code=201,
    response_model=GoalOut,
    responses=WRITE_PROBLEMS,
    summary="Add a milestone to an open goal (the pair's members)",
)
async def add_milestone(
    goal_id: GoalId, body: NewMilestone, command: CommandDep, actor: ActorDep
) -> Response:
    use_case = use_cases.add_milestone(
        goal_id, use_cases.NewMilestone(body.title, body.due_on), actor=actor
    )
    return await _run(command, use_case, "milestone_added", status_code=201)


@router.post(
    "/v1/goals/{goal_id}/milestones/{milestone_id}/complete",
    response_model=GoalOut,
    responses=WRITE_PROBLEMS,
    summary="Complete a milestone (the pair's members; completing twice changes nothing)",
)
async def complete_milestone(
    goal_id: GoalId, milestone_id: MilestoneId, command: CommandDep, actor: ActorDep
) -> Response:
    use_case = use_cases.complete_milestone(goal_id, milestone_id, actor=actor)
    return await _run(command, use_case, "milestone_completed")


async def _run(
    command: CommandDep, use_case: UseCase[GoalView], change: str, *, status_code: int = 200
) -> Response:
    done = await execute(command, use_case, GoalOut.of, status_code=status_code)
    if done.result is not None:
        count_goal(change)
        log.info(
            "goal.changed",
            change=change,
            goal_id=done.result.goal_id,
            pair_id=done.result.pair_id,
            status=done.result.status,
            progress=done.result.progress,
        )
    return done.response
