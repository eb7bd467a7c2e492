"""Sessions: log, schedule, log a planned one, reschedule, cancel, no-show; read them.

Who: the pair's members and admins (admins read no notes or topics).
"""

from __future__ import annotations

from typing import Annotated, Literal

import structlog
from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from mentorship_kit.commands import UseCase
from mentorship_kit.context import ContextDep
from mentorship_kit.endpoints import CommandDep
from mentorship_kit.pagination import Page, PageQuery
from sessions.adapters.queries import SessionView
from sessions.application import queries
from sessions.application import sessions as use_cases
from sessions.application.sessions import SessionTexts
from sessions.entrypoints.api.commands import execute
from sessions.entrypoints.api.deps import ROUTER_DEPENDENCIES, ActorDep, utc_now
from sessions.entrypoints.api.errors import (
    LIST_PROBLEMS,
    READ_PROBLEMS,
    WRITE_PROBLEMS,
)
from sessions.entrypoints.api.schemas import LogHeld, NewSession, Reschedule, SessionOut
from sessions.entrypoints.api.telemetry import count_logged, count_session

log = structlog.get_logger(__name__)

router = APIRouter(tags=["sessions"], dependencies=ROUTER_DEPENDENCIES)

PairId = Annotated[str, Path(min_length=1, max_length=200)]
SessionId = Annotated[str, Path(min_length=1, max_length=200)]
SessionStatus = Literal["scheduled", "held", "cancelled", "no_show"]


@router.post(
    "/v1/pairs/{pair_id}/sessions",
    status_code=201,
    response_model=SessionOut,
    responses=WRITE_PROBLEMS,
    summary="Log a held session or schedule one (the pair's members, admin)",
)
async def create_session(
    pair_id: PairId, body: NewSession, command: CommandDep, actor: ActorDep
) -> Response:
    use_case = use_cases.create_session(
        pair_id,
        status=body.status,
        held_on=body.held_on,
        scheduled_for=body.scheduled_for,
        duration_minutes=body.duration_minutes,
        mode=body.mode,
        private=SessionTexts(tuple(body.topics), body.notes),
        actor=actor,
        now=utc_now(),
    )
    done = await execute(command, use_case, SessionOut.of, status_code=201)
    if done.result is not None:
        action = "logged" if body.status == "held" else "scheduled"
        if body.status == "held":
            count_logged()
        else:
            count_session(action)
        log.info(
            "session.recorded",
            action=action,
            session_id=done.result.session_id,
            pair_id=pair_id,
            held_on=done.result.held_on,
            scheduled_for=done.result.scheduled_for,
        )
    return done.response


@router.get(
    "/v1/pairs/{pair_id}/sessions",
    response_model=Page[SessionOut],
    responses=LIST_PROBLEMS,
    summary="The pair's sessions, oldest first (the pair's members, admin)",
)
async def list_sessions(
    pair_id: PairId,
    context: ContextDep,
    actor: ActorDep,
    page: PageQuery,
    status: Annotated[SessionStatus | None, Query()] = None,
) -> Page[SessionOut]:
    views = await queries.sessions_of_pair(
        context.engine, pair_id, actor, after=page.keyset(), limit=page.limit + 1, status=status
    )
    return page.keyset_page(views, lambda v: (v.created_at, v.session_id), SessionOut.of)


@router.get(
    "/v1/sessions/{session_id}",
    response_model=SessionOut,
    responses=READ_PROBLEMS,
    summary="One session (the pair's members, admin)",
)
async def get_session(session_id: SessionId, context: ContextDep, actor: ActorDep) -> SessionOut:
    return SessionOut.of(await queries.session(context.engine, session_id, actor))


@router.post(
    "/v1/sessions/{session_id}/log",
    response_model=SessionOut,
    responses=WRITE_PROBLEMS,
    summary="A scheduled session took place (the pair's members, admin)",
)
async def log_scheduled(
    session_id: SessionId, body: LogHeld, command: CommandDep, actor: ActorDep
) -> Response:
    use_case = use_cases.log_scheduled_session(
        session_id,
        held_on=body.held_on,
        duration_minutes=body.duration_minutes,
        private=SessionTexts(tuple(body.topics), body.notes),
        actor=actor,
        now=utc_now(),
    )
    return await _changed(command, use_case, "logged")


@router.post(
    "/v1/sessions/{session_id}/reschedule",
    response_model=SessionOut,
    responses=WRITE_PROBLEMS,
    summary="Move a scheduled session (the pair's members, admin)",
)
async def reschedule(
    session_id: SessionId, body: Reschedule, command: CommandDep, actor: ActorDep
) -> Response:
    use_case = use_cases.reschedule_session(
        session_id, scheduled_for=body.scheduled_for, actor=actor, now=utc_now()
    )
    return await _changed(command, use_case, "rescheduled")


@router.post(
    "/v1/sessions/{session_id}/cancel",
    response_model=SessionOut,
    responses=WRITE_PROBLEMS,
    summary="Cancel a scheduled session (the pair's members, admin)",
)
async def cancel(session_id: SessionId, command: CommandDep, actor: ActorDep) -> Response:
    use_case = use_cases.cancel_session(session_id, actor=actor, now=utc_now())
    return await _changed(command, use_case, "cancelled")


@router.post(
    "/v1/sessions/{session_id}/no-show",
    response_model=SessionOut,
    responses=WRITE_PROBLEMS,
    summary="Nobody (or one side) turned up to a scheduled session (the pair's members, admin)",
)
async def no_show(session_id: SessionId, command: CommandDep, actor: ActorDep) -> Response:
    use_case = use_cases.mark_no_show(session_id, actor=actor, now=utc_now())
    return await _changed(command, use_case, "no_show")


async def _changed(command: CommandDep, use_case: UseCase[SessionView], action: str) -> Response:
    done = await execute(command, use_case, SessionOut.of)
    if done.result is not None:
        count_session(action)
        log.info(
            "session.recorded",
            action=action,
            session_id=done.result.session_id,
            pair_id=done.result.pair_id,
        )
    return done.response
