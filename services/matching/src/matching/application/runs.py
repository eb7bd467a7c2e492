"""Match runs: compute on a snapshot of the pool, record, publish.

Solving can take seconds on a large pool, so it happens before the command's
transaction (on SQLite a transaction holds the only write lock): `prepare_run` reads a
consistent snapshot and solves in a worker thread; `record_run` then records the
result (and publishes it at once when it is not a dry run). The run remembers the
fingerprint of the pool it was computed on; publishing — now or later — re-reads the
pool under the program's lock and refuses when anything changed (StaleRunError).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog
from opentelemetry import trace
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from matching.adapters import views
from matching.adapters.pool import load_program, load_snapshot, lock_programs
from matching.application.outcome import Outcome, outcome
from matching.domain import pairs, runs
from matching.domain.engine import MatchResult, match
from matching.domain.errors import (
    FormatNotOfferedError,
    NotFoundError,
    ProgramNotOpenError,
    StaleRunError,
)
from matching.domain.pairs import Proposal
from matching.domain.pool import BuiltPool, PoolSnapshot, ProgramFacts, build_pool, check_scope
from matching.domain.runs import MatchRun, RunKind, RunSettings
from matching.metrics import RUN_SECONDS, SERVICE
from mentorship_contracts import EventContract
from mentorship_contracts.matching import (
    MatchRunCompleted,
    MatchRunProposalsRecorded,
    ProposalRecord,
    UnmatchedRecord,
)
from mentorship_kit.commands import CommandTransaction, UseCase
from mentorship_kit.eventstore import NO_STREAM

log = structlog.get_logger(__name__)
tracer = trace.get_tracer(__name__)


@dataclass(frozen=True, slots=True)
class PreparedRun:
    run_id: str
    program_id: str
    kind: RunKind
    settings: RunSettings
    built: BuiltPool
    result: MatchResult
    mentee_ids: tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class Published:
    run_id: str
    program_id: str
    auto_accept: bool
    pairs: tuple[Proposal, ...]
    published_at: datetime


@dataclass(frozen=True, slots=True)
class RecordedRun:
    """A run as recorded: its MatchRunCompleted, proposals and unmatched mentees."""

    completed: MatchRunCompleted
    proposals: tuple[ProposalRecord, ...]
    unmatched: tuple[UnmatchedRecord, ...]
    published: Published | None
    recorded_at: datetime


def require_format(program: ProgramFacts, fmt: str) -> None:
    if fmt not in program.formats:
        raise FormatNotOfferedError(program.program_id, fmt, program.formats)


def require_open(program: ProgramFacts | None, program_id: str) -> ProgramFacts:
    if program is None:
        raise NotFoundError("program", program_id)
    if program.status != "open":
        raise ProgramNotOpenError(program_id, program.status)
    return program


async def read_snapshot(engine: AsyncEngine, program_id: str) -> PoolSnapshot:
    """The open program's pool, read in one consistent snapshot."""
    async with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execution_options(isolation_level="REPEATABLE READ")
        program = require_open(await load_program(conn, program_id), program_id)
        return await load_snapshot(conn, program)


async def prepare_run(
    engine: AsyncEngine,
    program_id: str,
    settings: RunSettings,
    *,
    kind: RunKind = "run",
    mentee_ids: Sequence[str] | None = None,
) -> PreparedRun:
    """Build the pool and solve. Raises 404/409/422-kind errors before any write."""
    snapshot = await read_snapshot(engine, program_id)
    require_format(snapshot.program, settings.format.value)
    if mentee_ids is not None:
        check_scope(snapshot, settings.format, mentee_ids)
    built = build_pool(snapshot, settings.format, mentee_ids)
    request = settings.engine_request(built)
    started = time.perf_counter()
    with tracer.start_as_current_span(
        "matching.solve",
        attributes={
            "matching.program_id": program_id,
            "matching.objective": settings.objective.value,
            "matching.format": settings.format.value,
            "matching.candidates": len(built.pool.candidates),
        },
    ):
        # The engine is CPU-bound NumPy/OR-tools work: off the event loop.
        result = await asyncio.to_thread(match, built.pool, request)
    seconds = time.perf_counter() - started
    RUN_SECONDS.labels(SERVICE, settings.objective.value, settings.format.value).observe(seconds)
    log.info(
        "match_run.solved",
        program_id=program_id,
        candidates=len(built.pool.candidates),
        proposals=len(result.assignments),
        unmatched=len(result.unmatched),
        exact=result.solver.exact,
        seconds=round(seconds, 3),
    )
    return PreparedRun(
        run_id=str(uuid.uuid4()),
        program_id=program_id,
        kind=kind,
        settings=settings,
        built=built,
        result=result,
        mentee_ids=tuple(mentee_ids) if mentee_ids is not None else None,
    )


def _recorded(
    events: Sequence[EventContract], published: Published | None, recorded_at: datetime
) -> RecordedRun:
    completed = events[0]
    assert isinstance(completed, MatchRunCompleted)  # noqa: S101 - runs.record puts it first
    parts = [e for e in events if isinstance(e, MatchRunProposalsRecorded)]
    return RecordedRun(
        completed=completed,
        proposals=tuple(p for part in parts for p in part.proposals),
        unmatched=tuple(u for part in parts for u in part.unmatched),
        published=published,
        recorded_at=recorded_at,
    )


def record_run(
    prepared: PreparedRun, *, now: datetime, auto_accept: bool
) -> UseCase[Outcome[RecordedRun]]:
    """Record the run; a run that is not a dry run is published in the same transaction."""

    async def use_case(tx: CommandTransaction) -> Outcome[RecordedRun]:
        require_open(await load_program(tx.conn, prepared.program_id), prepared.program_id)
        events = runs.record(
            runs.RecordRun(
                run_id=prepared.run_id,
                program_id=prepared.program_id,
                kind=prepared.kind,
                settings=prepared.settings,
                built=prepared.built,
                result=prepared.result,
                mentee_ids=prepared.mentee_ids,
                completed_at=now,
            )
        )
        stream = runs.stream_id(prepared.run_id)
        if prepared.settings.dry_run:
            await tx.append(stream, events, expected_version=NO_STREAM)
            return outcome(tx, _recorded(events, None, now))
        state: MatchRun | None = None
        for event in events:
            state = runs.evolve(state, event)
        assert state is not None  # noqa: S101 - events start with MatchRunCompleted
        run_events, published = await _decide_publish(
            tx.conn, state, auto_accept=auto_accept, now=now
        )
        await tx.append(stream, [*events, *run_events], expected_version=NO_STREAM)
        await _append_pairs(tx, published, now)
        return outcome(tx, _recorded(events, published, now))

    return use_case


def publish_run(run_id: str, *, auto_accept: bool, now: datetime) -> UseCase[Outcome[Published]]:
    """Turn a run's proposals into pairs: proposed, or active with `auto_accept`."""

    async def use_case(tx: CommandTransaction) -> Outcome[Published]:
        stream = runs.stream_id(run_id)
        loaded = await tx.load(stream, runs.evolve)
        if loaded.state is None:
            raise NotFoundError("match run", run_id)
        run_events, published = await _decide_publish(
            tx.conn, loaded.state, auto_accept=auto_accept, now=now
        )
        await tx.append(stream, run_events, expected_version=loaded.version)
        await _append_pairs(tx, published, now)
        return outcome(tx, published)

    return use_case


async def _decide_publish(
    conn: AsyncConnection, state: MatchRun, *, auto_accept: bool, now: datetime
) -> tuple[list[EventContract], Published]:
    # The program's lock first: a departure handled concurrently is then either
    # entirely before this (and changes the fingerprint) or entirely after (and its
    # closures see these pairs).
    await lock_programs(conn, [state.program_id])
    program = require_open(await load_program(conn, state.program_id), state.program_id)
    snapshot = await load_snapshot(conn, program)
    current = build_pool(snapshot, state.format, state.mentee_ids).fingerprint
    run_events, proposals = runs.publish(
        state, state.run_id, auto_accept=auto_accept, current_fingerprint=current, now=now
    )
    published = Published(
        run_id=state.run_id,
        program_id=state.program_id,
        auto_accept=auto_accept,
        pairs=tuple(proposals),
        published_at=now,
    )
    return run_events, published


async def _append_pairs(tx: CommandTransaction, published: Published, now: datetime) -> None:
    today = now.date()
    batches = [
        (
            pairs.stream_id(p.pair_id),
            pairs.propose(p, today, auto_accept=published.auto_accept),
            NO_STREAM,
        )
        for p in published.pairs
    ]
    try:
        # Thousands of pairs: their view rows are written in a few statements.
        async with views.deferred(tx.conn):
            await tx.append_many(batches)
    except IntegrityError as exc:
        # A mentee would have two live pairs: the pool moved under the run after all.
        raise StaleRunError(published.run_id) from exc
    log.info(
        "match_run.published",
        run_id=published.run_id,
        program_id=published.program_id,
        pairs=len(published.pairs),
        auto_accept=published.auto_accept,
    )
