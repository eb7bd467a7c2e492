"""Match runs: run (dry or published at once), rematch, read, list, compare, publish."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from matching.adapters.queries import RunSummaryView
from matching.application import queries, runs
from matching.application.outcome import Outcome
from matching.application.runs import PreparedRun, RecordedRun
from matching.entrypoints.api.commands import answered_before, execute, replayed_only
from matching.entrypoints.api.deps import STAFF, NowDep
from matching.entrypoints.api.errors import (
    LIST_PROBLEMS,
    READ_PROBLEMS,
    WRITE_PROBLEMS,
)
from matching.entrypoints.api.schemas import (
    EXAMPLE_PROGRAM_ID,
    ComparisonOut,
    MatchRunIn,
    PublishIn,
    PublishOut,
    RematchIn,
    RunOut,
    RunSummaryOut,
)
from matching.metrics import PROPOSALS, RUNS, SERVICE
from mentorship_kit.commands import UseCase
from mentorship_kit.context import ContextDep
from mentorship_kit.endpoints import CommandDep
from mentorship_kit.pagination import Page, PageQuery

router = APIRouter(tags=["match runs"])

ProgramId = Annotated[str, Path(min_length=1, max_length=200, examples=[EXAMPLE_PROGRAM_ID])]
RunId = Annotated[str, Path(min_length=1, max_length=200)]
RunQuery = Annotated[str, Query(min_length=1, max_length=200)]


def _count(run: RecordedRun) -> None:
    completed = run.completed
    RUNS.labels(SERVICE, completed.kind, str(completed.dry_run).lower()).inc()
    PROPOSALS.labels(SERVICE).inc(len(run.proposals))


async def _record(
    command: CommandDep, prepared: PreparedRun | None, *, auto_accept: bool, at: NowDep
) -> Any:
    """Record a prepared run; without one (an answered Idempotency-Key) replay."""
    use_case: UseCase[Outcome[RecordedRun]] = (
        runs.record_run(prepared, now=at, auto_accept=auto_accept)
        if prepared is not None
        else replayed_only
    )
    response, done = await execute(command, use_case, RunOut.of_recorded, status_code=201)
    if done is not None:
        _count(done.value)
    return response


@router.post(
    "/v1/programs/{program_id}/match-runs",
    dependencies=STAFF,
    status_code=201,
    response_model=RunOut,
    responses=WRITE_PROBLEMS,
    summary="Run the matcher on the program's pool: metrics, explained proposals, unmatched "
    "mentees with reasons (admin, program_manager)",
)
async def create_run(
    program_id: ProgramId,
    body: MatchRunIn,
    command: CommandDep,
    context: ContextDep,
    at: NowDep,
) -> Any:
    prepared = None
    if not await answered_before(command):
        prepared = await runs.prepare_run(context.engine, program_id, body.settings())
    return await _record(command, prepared, auto_accept=body.auto_accept, at=at)


@router.post(
    "/v1/programs/{program_id}/rematch",
    dependencies=STAFF,
    status_code=201,
    response_model=RunOut,
    responses=WRITE_PROBLEMS,
    summary="A run for the unmatched mentees, or for the ones given (admin, program_manager)",
)
async def rematch(
    program_id: ProgramId,
    body: RematchIn,
    command: CommandDep,
    context: ContextDep,
    at: NowDep,
) -> Any:
    prepared = None
    if not await answered_before(command):
        prepared = await runs.prepare_run(
            context.engine,
            program_id,
            body.settings(),
            kind="rematch",
            mentee_ids=body.mentee_ids,
        )
    return await _record(command, prepared, auto_accept=body.auto_accept, at=at)


@router.get(
    "/v1/programs/{program_id}/match-runs",
    dependencies=STAFF,
    response_model=Page[RunSummaryOut],
    responses=LIST_PROBLEMS,
    summary="The program's runs, oldest first, without their proposals (admin, program_manager)",
)
async def list_runs(
    program_id: ProgramId, page: PageQuery, context: ContextDep
) -> Page[RunSummaryOut]:
    views = await queries.runs_of(context.engine, program_id, page.keyset(), page.limit)

    def position(view: RunSummaryView) -> tuple[Any, str]:
        return view.created_at, view.run_id

    return page.keyset_page(views, position, RunSummaryOut.of)


@router.get(
    "/v1/match-runs/compare",
    dependencies=STAFF,
    response_model=ComparisonOut,
    responses=READ_PROBLEMS,
    summary="Two runs side by side: pairs only in one, changed mentors, metric and weight "
    "deltas, per-group coverage (admin, program_manager)",
)
async def compare_runs(a: RunQuery, b: RunQuery, context: ContextDep) -> ComparisonOut:
    return ComparisonOut.of(await queries.compare(context.engine, a, b))


@router.get(
    "/v1/match-runs/{run_id}",
    dependencies=STAFF,
    response_model=RunOut,
    responses=READ_PROBLEMS,
    summary="A run with every proposal, its explanation, and the unmatched mentees "
    "(admin, program_manager)",
)
async def get_run(run_id: RunId, context: ContextDep) -> RunOut:
    return RunOut.of_view(await queries.run(context.engine, run_id))


@router.post(
    "/v1/match-runs/{run_id}/publish",
    dependencies=STAFF,
    response_model=PublishOut,
    responses=WRITE_PROBLEMS,
    summary="Turn the run's proposals into pairs, proposed or active with auto_accept; "
    "once, and only while the pool is unchanged (admin, program_manager)",
)
async def publish_run(
    run_id: RunId, command: CommandDep, at: NowDep, body: PublishIn | None = None
) -> Any:
    auto_accept = body.auto_accept if body is not None else False
    response, _done = await execute(
        command, runs.publish_run(run_id, auto_accept=auto_accept, now=at), PublishOut.of
    )
    return response
