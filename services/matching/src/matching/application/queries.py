"""Reads, with who may see what: staff (admins, program managers) see everything of a
program; a participant sees the pairs and mentor requests they are part of."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from matching.adapters import queries
from matching.adapters.pool import load_program
from matching.adapters.queries import (
    BlockView,
    CandidateView,
    PairView,
    RequestView,
    RunSummaryView,
    RunView,
)
from matching.domain import pairs
from matching.domain.actors import Actor
from matching.domain.engine import RunComparison, compare_results
from matching.domain.errors import ForbiddenError, NotFoundError
from matching.domain.pool import ProgramFacts
from matching.domain.runs import result_of
from mentorship_kit.eventstore import EventStore
from mentorship_kit.feed import HistoryEntry, stream_history
from mentorship_kit.pagination import Keyset


async def _program(conn: AsyncConnection, program_id: str) -> ProgramFacts:
    program = await load_program(conn, program_id)
    if program is None:
        raise NotFoundError("program", program_id)
    return program


async def run(engine: AsyncEngine, run_id: str) -> RunView:
    async with engine.connect() as conn:
        view = await queries.get_run(conn, run_id)
    if view is None:
        raise NotFoundError("match run", run_id)
    return view


async def runs_of(
    engine: AsyncEngine, program_id: str, after: Keyset | None, limit: int
) -> list[RunSummaryView]:
    async with engine.connect() as conn:
        await _program(conn, program_id)
        return await queries.list_runs(conn, program_id, after, limit)


@dataclass(frozen=True, slots=True)
class Comparison:
    a: RunView
    b: RunView
    differences: RunComparison


async def compare(engine: AsyncEngine, run_a: str, run_b: str) -> Comparison:
    a, b = await run(engine, run_a), await run(engine, run_b)
    differences = compare_results(
        result_of(a.summary.record, a.proposals, a.unmatched),
        result_of(b.summary.record, b.proposals, b.unmatched),
    )
    return Comparison(a=a, b=b, differences=differences)


def _require_party(view: PairView, actor: Actor) -> None:
    if actor.is_staff or view.has_member(actor.employee_id):
        return
    raise ForbiddenError("pair", view.pair_id, "only the pair's members and staff may see it")


async def pair(engine: AsyncEngine, pair_id: str, actor: Actor) -> PairView:
    async with engine.connect() as conn:
        view = await queries.get_pair(conn, pair_id)
    if view is None:
        raise NotFoundError("pair", pair_id)
    _require_party(view, actor)
    return view


async def pairs_of(
    engine: AsyncEngine,
    program_id: str,
    actor: Actor,
    *,
    statuses: list[str] | None,
    after: Keyset | None,
    limit: int,
) -> list[PairView]:
    """Every pair of the program for staff; a participant's own pairs otherwise."""
    async with engine.connect() as conn:
        await _program(conn, program_id)
        return await queries.list_pairs(
            conn,
            program_id,
            statuses=statuses,
            member=None if actor.is_staff else actor.employee_id or "",
            after=after,
            limit=limit,
        )


async def pair_history(
    store: EventStore, engine: AsyncEngine, pair_id: str, actor: Actor
) -> list[HistoryEntry]:
    """proposed -> accepted -> formed -> ended, with who did what (or what caused it)."""
    await pair(engine, pair_id, actor)
    return await stream_history(store, pairs.stream_id(pair_id))


def _require_request_party(view: RequestView, actor: Actor) -> None:
    if actor.is_staff or view.involves(actor.employee_id):
        return
    raise ForbiddenError(
        "mentor request",
        view.request_id,
        "only the mentee, the mentor asked and staff may see it",
    )


async def request(engine: AsyncEngine, request_id: str, actor: Actor) -> RequestView:
    async with engine.connect() as conn:
        view = await queries.get_request(conn, request_id)
    if view is None:
        raise NotFoundError("mentor request", request_id)
    _require_request_party(view, actor)
    return view


async def requests_of(
    engine: AsyncEngine,
    program_id: str,
    actor: Actor,
    *,
    status: str | None,
    after: Keyset | None,
    limit: int,
) -> list[RequestView]:
    async with engine.connect() as conn:
        await _program(conn, program_id)
        return await queries.list_requests(
            conn,
            program_id,
            status=status,
            member=None if actor.is_staff else actor.employee_id or "",
            after=after,
            limit=limit,
        )


async def blocks_of(
    engine: AsyncEngine, program_id: str, after: Keyset | None, limit: int
) -> list[BlockView]:
    async with engine.connect() as conn:
        await _program(conn, program_id)
        return await queries.list_blocks(conn, program_id, after, limit)


async def pool_of(
    engine: AsyncEngine, program_id: str, after: tuple[str, str] | None, limit: int
) -> tuple[ProgramFacts, list[CandidateView]]:
    async with engine.connect() as conn:
        program = await _program(conn, program_id)
        return program, await queries.list_participants(conn, program_id, after, limit)
