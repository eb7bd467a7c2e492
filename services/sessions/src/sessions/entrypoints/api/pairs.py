"""The pair as this service knows it: members, status, program dates, check-ins due."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel

from mentorship_kit.context import ContextDep
from mentorship_kit.feed import HistoryEntry
from sessions.application import queries
from sessions.entrypoints.api.deps import ROUTER_DEPENDENCIES, ActorDep
from sessions.entrypoints.api.errors import (
    READ_PROBLEMS,
)
from sessions.entrypoints.api.schemas import PairOut

router = APIRouter(tags=["pairs"], dependencies=ROUTER_DEPENDENCIES)

PairId = Annotated[str, Path(min_length=1, max_length=200)]


@router.get(
    "/v1/pairs/{pair_id}",
    response_model=PairOut,
    responses=READ_PROBLEMS,
    summary="The pair, its program's dates and when check-ins are due (the pair's members, admin)",
)
async def get_pair(pair_id: PairId, context: ContextDep, actor: ActorDep) -> PairOut:
    return PairOut.of(await queries.pair_overview(context.engine, pair_id, actor))


class SessionHistoryOut(BaseModel):
    items: list[HistoryEntry]


@router.get(
    "/v1/pairs/{pair_id}/sessions/history",
    response_model=SessionHistoryOut,
    responses=READ_PROBLEMS,
    summary="Every change of the pair's sessions with who made it (the pair's members, admin)",
)
async def session_history(
    pair_id: PairId, context: ContextDep, actor: ActorDep
) -> SessionHistoryOut:
    items = await queries.session_history_of_pair(context.store, pair_id, actor)
    return SessionHistoryOut(items=items)
