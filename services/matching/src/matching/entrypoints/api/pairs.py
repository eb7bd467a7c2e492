"""Pairs: list, read, history; accept, decline, end."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query

from matching.adapters.queries import PairView
from matching.application import pairs, queries
from matching.entrypoints.api.commands import execute
from matching.entrypoints.api.deps import ANY_ROLE, MEMBERS, ActorDep, NowDep
from matching.entrypoints.api.errors import (
    LIST_PROBLEMS,
    READ_PROBLEMS,
    WRITE_PROBLEMS,
)
from matching.entrypoints.api.schemas import EXAMPLE_PROGRAM_ID, EndPairIn, PairHistoryOut, PairOut
from mentorship_kit.context import ContextDep
from mentorship_kit.endpoints import CommandDep
from mentorship_kit.pagination import Page, PageQuery

router = APIRouter(tags=["pairs"])

ProgramId = Annotated[str, Path(min_length=1, max_length=200, examples=[EXAMPLE_PROGRAM_ID])]
PairId = Annotated[str, Path(min_length=1, max_length=200)]
PairStatusQuery = Annotated[
    Literal["proposed", "active", "declined", "ended"] | None,
    Query(description="Only pairs in this status."),
]


def _position(view: PairView) -> tuple[datetime, str]:
    return view.proposed_at, view.pair_id


@router.get(
    "/v1/programs/{program_id}/pairs",
    dependencies=ANY_ROLE,
    response_model=Page[PairOut],
    responses=LIST_PROBLEMS,
    summary="The program's pairs (admin, program_manager); a participant sees their own",
)
async def list_pairs(
    program_id: ProgramId,
    page: PageQuery,
    context: ContextDep,
    actor: ActorDep,
    status: PairStatusQuery = None,
) -> Page[PairOut]:
    views = await queries.pairs_of(
        context.engine,
        program_id,
        actor,
        statuses=[status] if status else None,
        after=page.keyset(),
        limit=page.limit,
    )
    return page.keyset_page(views, _position, PairOut.of)


@router.get(
    "/v1/pairs/{pair_id}",
    dependencies=ANY_ROLE,
    response_model=PairOut,
    responses=READ_PROBLEMS,
    summary="A pair with its explanation (the pair's members, admin, program_manager)",
)
async def get_pair(pair_id: PairId, context: ContextDep, actor: ActorDep) -> PairOut:
    return PairOut.of(await queries.pair(context.engine, pair_id, actor))


@router.get(
    "/v1/pairs/{pair_id}/history",
    dependencies=ANY_ROLE,
    response_model=PairHistoryOut,
    responses=READ_PROBLEMS,
    summary="Every change of the pair, oldest first, with who made it (the pair's members, "
    "admin, program_manager)",
)
async def pair_history(pair_id: PairId, context: ContextDep, actor: ActorDep) -> PairHistoryOut:
    items = await queries.pair_history(context.store, context.engine, pair_id, actor)
    return PairHistoryOut(pair_id=pair_id, items=items)


@router.post(
    "/v1/pairs/{pair_id}/accept",
    dependencies=MEMBERS,
    response_model=PairOut,
    responses=WRITE_PROBLEMS,
    summary="Accept a proposed pair; it is active once both sides accepted (the pair's "
    "members; an admin accepts for both)",
)
async def accept_pair(pair_id: PairId, command: CommandDep, actor: ActorDep, at: NowDep) -> Any:
    response, _done = await execute(
        command, pairs.accept_pair(pair_id, actor, at.date()), PairOut.of
    )
    return response


@router.post(
    "/v1/pairs/{pair_id}/decline",
    dependencies=MEMBERS,
    response_model=PairOut,
    responses=WRITE_PROBLEMS,
    summary="Decline a proposed pair; both members return to the pool (the pair's members, admin)",
)
async def decline_pair(pair_id: PairId, command: CommandDep, actor: ActorDep, at: NowDep) -> Any:
    response, _done = await execute(
        command, pairs.decline_pair(pair_id, actor, at.date()), PairOut.of
    )
    return response


@router.post(
    "/v1/pairs/{pair_id}/end",
    dependencies=ANY_ROLE,
    response_model=PairOut,
    responses=WRITE_PROBLEMS,
    summary="End an active pair; the mentee returns to the pool (the pair's members, admin, "
    "program_manager)",
)
async def end_pair(
    pair_id: PairId,
    body: EndPairIn,
    command: CommandDep,
    actor: ActorDep,
    at: NowDep,
) -> Any:
    response, _done = await execute(
        command, pairs.end_pair(pair_id, actor, body.reason, at.date()), PairOut.of
    )
    return response
