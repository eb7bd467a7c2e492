"""Feedback: session ratings, check-ins, exit surveys and fit checks (the pair's members
answer; admins read the ratings, never the comments)."""

from __future__ import annotations

from typing import Annotated, Literal

import structlog
from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from mentorship_kit.commands import UseCase
from mentorship_kit.context import ContextDep
from mentorship_kit.endpoints import CommandDep
from mentorship_kit.pagination import Page, PageQuery
from sessions.adapters.queries import FeedbackView
from sessions.application import feedback as use_cases
from sessions.application import queries
from sessions.entrypoints.api.commands import execute
from sessions.entrypoints.api.deps import ROUTER_DEPENDENCIES, ActorDep, utc_now
from sessions.entrypoints.api.errors import (
    LIST_PROBLEMS,
    WRITE_PROBLEMS,
)
from sessions.entrypoints.api.schemas import FeedbackOut, NewCheckIn, NewFeedback, NewFitCheck
from sessions.entrypoints.api.telemetry import count_feedback

log = structlog.get_logger(__name__)

router = APIRouter(tags=["feedback"], dependencies=ROUTER_DEPENDENCIES)

PairId = Annotated[str, Path(min_length=1, max_length=200)]
FeedbackKind = Literal["session", "checkin", "exit", "fit_check"]


@router.post(
    "/v1/pairs/{pair_id}/feedback",
    status_code=201,
    response_model=FeedbackOut,
    responses=WRITE_PROBLEMS,
    summary="Rate a session, answer a check-in, or the exit survey (the pair's members)",
)
async def submit_feedback(
    pair_id: PairId, body: NewFeedback, command: CommandDep, actor: ActorDep
) -> Response:
    answer = use_cases.FeedbackAnswer(
        kind=body.kind,
        rating=body.rating,
        nps=body.nps,
        session_id=body.session_id,
        comment=body.comment,
    )
    use_case = use_cases.submit_feedback(pair_id, answer, actor=actor, now=utc_now())
    return await _answered(command, use_case)


@router.post(
    "/v1/pairs/{pair_id}/check-ins",
    status_code=201,
    response_model=FeedbackOut,
    responses=WRITE_PROBLEMS,
    summary="The periodic check-in, on the program's cadence (the pair's members)",
)
async def check_in(
    pair_id: PairId, body: NewCheckIn, command: CommandDep, actor: ActorDep
) -> Response:
    use_case = use_cases.check_in(
        pair_id,
        relationship_quality=body.relationship_quality,
        nps=body.nps,
        comment=body.comment,
        actor=actor,
        now=utc_now(),
    )
    return await _answered(command, use_case)


@router.post(
    "/v1/pairs/{pair_id}/fit-check",
    status_code=201,
    response_model=FeedbackOut,
    responses=WRITE_PROBLEMS,
    summary="After the first session: does the pair fit? (the pair's members)",
)
async def fit_check(
    pair_id: PairId, body: NewFitCheck, command: CommandDep, actor: ActorDep
) -> Response:
    use_case = use_cases.fit_check(
        pair_id,
        fits=body.fits,
        session_id=body.session_id,
        comment=body.comment,
        actor=actor,
        now=utc_now(),
    )
    return await _answered(command, use_case)


@router.get(
    "/v1/pairs/{pair_id}/feedback",
    response_model=Page[FeedbackOut],
    responses=LIST_PROBLEMS,
    summary="The pair's feedback (the pair's members; admin without comments)",
)
async def list_feedback(
    pair_id: PairId,
    context: ContextDep,
    actor: ActorDep,
    page: PageQuery,
    kind: Annotated[FeedbackKind | None, Query()] = None,
) -> Page[FeedbackOut]:
    views = await queries.feedback_of_pair(
        context.engine, pair_id, actor, after=page.keyset(), limit=page.limit + 1, kind=kind
    )
    return page.keyset_page(views, lambda v: (v.created_at, v.feedback_id), FeedbackOut.of)


async def _answered(command: CommandDep, use_case: UseCase[FeedbackView]) -> Response:
    done = await execute(command, use_case, FeedbackOut.of, status_code=201)
    if done.result is not None:
        result = done.result
        kind = result.kind
        if kind == "fit_check":
            kind = "fit_check_passed" if result.fits else "fit_check_failed"
        count_feedback(kind)
        log.info(
            "feedback.submitted",
            kind=kind,
            feedback_id=result.feedback_id,
            pair_id=result.pair_id,
            respondent_role=result.respondent_role,
        )
    return done.response
