"""A program as matching sees it: its candidate pool and its blocked pairs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path

from matching.adapters.queries import BlockView
from matching.application import blocklist, queries
from matching.entrypoints.api.commands import execute
from matching.entrypoints.api.deps import STAFF
from matching.entrypoints.api.errors import (
    LIST_PROBLEMS,
    WRITE_PROBLEMS,
)
from matching.entrypoints.api.schemas import (
    EXAMPLE_PROGRAM_ID,
    BlockedPairOut,
    BlockPairIn,
    CandidateOut,
    PoolPage,
    PoolProgramOut,
    UnblockedOut,
)
from mentorship_kit.context import ContextDep
from mentorship_kit.endpoints import CommandDep
from mentorship_kit.pagination import Page, PageParams, PageQuery, encode_cursor, foreign_cursor

router = APIRouter(tags=["programs"])

ProgramId = Annotated[str, Path(min_length=1, max_length=200, examples=[EXAMPLE_PROGRAM_ID])]
BlockId = Annotated[str, Path(min_length=1, max_length=200)]


def _pool_after(page: PageParams) -> tuple[str, str] | None:
    if page.position is None:
        return None
    employee_id, role = page.position.get("e"), page.position.get("r")
    if not isinstance(employee_id, str) or not isinstance(role, str):
        raise foreign_cursor()
    return employee_id, role


@router.get(
    "/v1/programs/{program_id}/pool",
    dependencies=STAFF,
    response_model=PoolPage,
    responses=LIST_PROBLEMS,
    summary="The program and its participants as matching knows them, with their live "
    "pairs (admin, program_manager)",
)
async def get_pool(program_id: ProgramId, page: PageQuery, context: ContextDep) -> PoolPage:
    program, views = await queries.pool_of(
        context.engine, program_id, _pool_after(page), page.limit
    )
    items = views[: page.limit]
    last = items[-1] if len(views) > page.limit else None
    return PoolPage(
        program=PoolProgramOut(
            program_id=program.program_id,
            status=program.status,
            formats=list(program.formats),
            mentor_capacity=program.mentor_capacity,
        ),
        items=[CandidateOut.of(v) for v in items],
        next_cursor=encode_cursor({"e": last.employee_id, "r": last.role}) if last else None,
    )


@router.post(
    "/v1/programs/{program_id}/blocked-pairs",
    dependencies=STAFF,
    status_code=201,
    response_model=BlockedPairOut,
    responses=WRITE_PROBLEMS,
    summary="Rule two employees out as a pair in every run of the program (admin, program_manager)",
)
async def block_pair(program_id: ProgramId, body: BlockPairIn, command: CommandDep) -> Any:
    first, second = body.employee_ids
    response, _done = await execute(
        command,
        blocklist.block_pair(program_id, first, second, body.reason),
        BlockedPairOut.of,
        status_code=201,
    )
    return response


@router.get(
    "/v1/programs/{program_id}/blocked-pairs",
    dependencies=STAFF,
    response_model=Page[BlockedPairOut],
    responses=LIST_PROBLEMS,
    summary="The program's blocked pairs (admin, program_manager)",
)
async def list_blocked_pairs(
    program_id: ProgramId, page: PageQuery, context: ContextDep
) -> Page[BlockedPairOut]:
    views = await queries.blocks_of(context.engine, program_id, page.keyset(), page.limit)

    def position(view: BlockView) -> tuple[datetime, str]:
        return view.created_at, view.block_id

    return page.keyset_page(views, position, BlockedPairOut.of)


@router.delete(
    "/v1/programs/{program_id}/blocked-pairs/{block_id}",
    dependencies=STAFF,
    response_model=UnblockedOut,
    responses=WRITE_PROBLEMS,
    summary="Allow a blocked pair again (admin, program_manager)",
)
async def unblock_pair(program_id: ProgramId, block_id: BlockId, command: CommandDep) -> Any:
    response, _done = await execute(
        command, blocklist.unblock_pair(program_id, block_id), UnblockedOut.of
    )
    return response
