"""/v1/programs: design, change, open, close, archive, list and read programs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from enrollment.adapters import repository
from enrollment.application import programs as use_cases
from enrollment.application.streams import program_stream
from enrollment.domain.errors import ProgramNotFoundError
from enrollment.domain.programs import ProgramStatus
from enrollment.entrypoints import metrics
from enrollment.entrypoints.api.access import ProgramManager, run_unkeyed
from enrollment.entrypoints.api.schemas import (
    CreateProgram,
    HistoryOut,
    ProgramOut,
    ProgramPage,
    UpdateProgram,
)
from mentorship_contracts.enrollment import ProgramSettings
from mentorship_kit.auth import CurrentPrincipal
from mentorship_kit.context import ContextDep
from mentorship_kit.endpoints import CommandDep
from mentorship_kit.feed import stream_history
from mentorship_kit.pagination import PageQuery
from mentorship_kit.problems import problem_responses
from mentorship_kit.query import reject_unknown_query

router = APIRouter(
    prefix="/v1/programs", tags=["programs"], dependencies=[Depends(reject_unknown_query)]
)

ProgramId = Annotated[str, Path(min_length=1, max_length=64, description="The program's id.")]
_WRITE = problem_responses(400, 401, 403, 404, 409, 422)


def _settings(body: CreateProgram) -> ProgramSettings:
    values: dict[str, Any] = body.model_dump(exclude={"eligibility", "mentor_eligibility"})
    values["eligibility"] = body.eligibility.to_contract()
    if body.mentor_eligibility is not None:
        values["mentor_eligibility"] = body.mentor_eligibility.to_contract()
    return ProgramSettings.model_validate(values)


@router.post(
    "",
    status_code=201,
    response_model=ProgramOut,
    responses=problem_responses(400, 401, 403, 422),
    summary="Design a program (it starts as a draft)",
)
async def create_program(body: CreateProgram, _: ProgramManager, command: CommandDep) -> Response:
    result: Response = await command.execute(
        use_cases.create_program(_settings(body)), present=ProgramOut.of, status_code=201
    )
    return result


@router.patch(
    "/{program_id}",
    response_model=ProgramOut,
    responses=_WRITE,
    summary="Change some of a program's settings",
    description=(
        "With automatic approval, a change that leaves mentee places free (a raised or "
        "removed `max_mentees`, `approval` switched to `auto`) enrolls waitlisted mentees "
        "into them, first in line first and checked against the new rules, in the same "
        "transaction."
    ),
)
async def update_program(
    program_id: ProgramId,
    body: UpdateProgram,
    principal: ProgramManager,
    request: Request,
    context: ContextDep,
) -> ProgramOut:
    update = await run_unkeyed(
        request, context, principal, use_cases.update_program(program_id, body.changes())
    )
    metrics.waitlist_promotions("program_update", update.promotions)
    return ProgramOut.of(update.program)


@router.post(
    "/{program_id}/open",
    response_model=ProgramOut,
    responses=_WRITE,
    summary="Open the program for applications",
)
async def open_program(program_id: ProgramId, _: ProgramManager, command: CommandDep) -> Response:
    result: Response = await command.execute(
        use_cases.open_program(program_id), present=ProgramOut.of
    )
    return result


@router.post(
    "/{program_id}/close",
    response_model=ProgramOut,
    responses=_WRITE,
    summary="Close the program for applications",
)
async def close_program(program_id: ProgramId, _: ProgramManager, command: CommandDep) -> Response:
    result: Response = await command.execute(
        use_cases.close_program(program_id), present=ProgramOut.of
    )
    return result


@router.post(
    "/{program_id}/archive",
    response_model=ProgramOut,
    responses=_WRITE,
    summary="Archive the program; it no longer changes",
)
async def archive_program(
    program_id: ProgramId, _: ProgramManager, command: CommandDep
) -> Response:
    result: Response = await command.execute(
        use_cases.archive_program(program_id), present=ProgramOut.of
    )
    return result


@router.get(
    "",
    response_model=ProgramPage,
    responses=problem_responses(400, 401, 422),
    summary="List programs, oldest first",
)
async def list_programs(
    _: CurrentPrincipal,
    context: ContextDep,
    page: PageQuery,
    status: Annotated[
        ProgramStatus | None, Query(description="Only programs in this status.")
    ] = None,
) -> ProgramPage:
    after = page.position.get("s") if page.position else None
    async with context.engine.connect() as conn:
        rows = await repository.list_programs(
            conn,
            after_seq=int(after) if isinstance(after, int) else None,
            limit=page.limit + 1,
            status=status.value if status else None,
        )
    built = page.page(rows, lambda row: {"s": row.seq})
    return ProgramPage(
        items=[ProgramOut.of(row.program) for row in built.items], next_cursor=built.next_cursor
    )


@router.get(
    "/{program_id}",
    response_model=ProgramOut,
    responses=problem_responses(400, 401, 404, 422),
    summary="Read one program",
)
async def get_program(
    program_id: ProgramId, _: CurrentPrincipal, context: ContextDep
) -> ProgramOut:
    async with context.engine.connect() as conn:
        row = await repository.get_program(conn, program_id)
    if row is None:
        raise ProgramNotFoundError(program_id)
    return ProgramOut.of(row.program)


@router.get(
    "/{program_id}/history",
    response_model=HistoryOut,
    responses=problem_responses(400, 401, 403, 404, 422),
    summary="Every change of the program with who made it (admin, program manager)",
)
async def program_history(
    program_id: ProgramId, _: ProgramManager, context: ContextDep
) -> HistoryOut:
    items = await stream_history(context.store, program_stream(program_id))
    if not items:
        raise ProgramNotFoundError(program_id)
    return HistoryOut(items=items)
