"""Self-directed matching: a mentee's ranked request, the mentor's answer."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query

from matching.adapters.queries import RequestView
from matching.application import queries, requests
from matching.domain.actors import Actor
from matching.domain.errors import ForbiddenError, InvalidFieldError
from matching.entrypoints.api.commands import execute
from matching.entrypoints.api.deps import ANY_ROLE, MEMBERS, ActorDep, NowDep, TtlDep
from matching.entrypoints.api.errors import (
    LIST_PROBLEMS,
    READ_PROBLEMS,
    WRITE_PROBLEMS,
)
from matching.entrypoints.api.schemas import EXAMPLE_PROGRAM_ID, MentorRequestIn, MentorRequestOut
from mentorship_kit.context import ContextDep
from mentorship_kit.endpoints import CommandDep
from mentorship_kit.pagination import Page, PageQuery

router = APIRouter(tags=["mentor requests"])

ProgramId = Annotated[str, Path(min_length=1, max_length=200, examples=[EXAMPLE_PROGRAM_ID])]
RequestId = Annotated[str, Path(min_length=1, max_length=200)]
RequestStatusQuery = Annotated[
    Literal["pending", "accepted", "exhausted", "cancelled"] | None,
    Query(description="Only requests in this status."),
]


def _mentee_of(body: MentorRequestIn, actor: Actor, program_id: str) -> str:
    """A participant asks for themself; staff name the mentee."""
    if actor.employee_id is not None and not actor.is_staff:
        if body.mentee_id not in {None, actor.employee_id}:
            raise ForbiddenError("program", program_id, "a participant asks for themself only")
        return actor.employee_id
    if body.mentee_id is None:
        raise InvalidFieldError("mentee_id", "required when staff ask on a mentee's behalf")
    return body.mentee_id


@router.post(
    "/v1/programs/{program_id}/mentor-requests",
    dependencies=ANY_ROLE,
    status_code=201,
    response_model=MentorRequestOut,
    responses=WRITE_PROBLEMS,
    summary="A mentee ranks mentors; the first available one is asked, with an expiry "
    "(participant for self; admin, program_manager for a mentee)",
)
async def request_mentor(
    program_id: ProgramId,
    body: MentorRequestIn,
    *,
    command: CommandDep,
    actor: ActorDep,
    at: NowDep,
    ttl: TtlDep,
) -> Any:
    mentee_id = _mentee_of(body, actor, program_id)
    response, _done = await execute(
        command,
        requests.submit_request(program_id, mentee_id, body.mentor_ids, now=at, ttl=ttl),
        MentorRequestOut.of,
        status_code=201,
    )
    return response


@router.get(
    "/v1/programs/{program_id}/mentor-requests",
    dependencies=ANY_ROLE,
    response_model=Page[MentorRequestOut],
    responses=LIST_PROBLEMS,
    summary="The program's mentor requests (admin, program_manager); a participant sees "
    "those they ask or are asked",
)
async def list_requests(
    program_id: ProgramId,
    page: PageQuery,
    context: ContextDep,
    actor: ActorDep,
    status: RequestStatusQuery = None,
) -> Page[MentorRequestOut]:
    views = await queries.requests_of(
        context.engine, program_id, actor, status=status, after=page.keyset(), limit=page.limit
    )

    def position(view: RequestView) -> tuple[datetime, str]:
        return view.created_at, view.request_id

    return page.keyset_page(views, position, MentorRequestOut.of)


@router.get(
    "/v1/mentor-requests/{request_id}",
    dependencies=ANY_ROLE,
    response_model=MentorRequestOut,
    responses=READ_PROBLEMS,
    summary="A mentor request (the mentee, the mentor asked, admin, program_manager)",
)
async def get_request(
    request_id: RequestId, context: ContextDep, actor: ActorDep
) -> MentorRequestOut:
    return MentorRequestOut.of(await queries.request(context.engine, request_id, actor))


@router.post(
    "/v1/mentor-requests/{request_id}/accept",
    dependencies=MEMBERS,
    response_model=MentorRequestOut,
    responses=WRITE_PROBLEMS,
    summary="The mentor asked accepts: the pair is active at once (the mentor asked, admin)",
)
async def accept_request(
    request_id: RequestId, command: CommandDep, actor: ActorDep, at: NowDep
) -> Any:
    response, _done = await execute(
        command, requests.accept_request(request_id, actor, now=at), MentorRequestOut.of
    )
    return response


@router.post(
    "/v1/mentor-requests/{request_id}/decline",
    dependencies=MEMBERS,
    response_model=MentorRequestOut,
    responses=WRITE_PROBLEMS,
    summary="The mentor asked declines: the mentee's next available choice is asked (the "
    "mentor asked, admin)",
)
async def decline_request(
    request_id: RequestId,
    command: CommandDep,
    actor: ActorDep,
    at: NowDep,
    ttl: TtlDep,
) -> Any:
    response, _done = await execute(
        command,
        requests.decline_request(request_id, actor, now=at, ttl=ttl),
        MentorRequestOut.of,
    )
    return response
