"""The match-run aggregate: a run's request, result and explanations, kept forever.

A run is recorded as MatchRunCompleted (request, metrics, solver, algorithm version,
pool fingerprint) followed by its proposals and unmatched mentees in parts
(MatchRunProposalsRecorded), so that no event outgrows the broker's message limit.
Publishing turns the proposals into pairs, once, and only while the pool is exactly
the one the run was computed on (see `pool`).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Final, Literal

from matching.domain.engine import (
    Assignment,
    Constraints,
    DepartmentPreference,
    FactorContribution,
    GroupMetrics,
    MatchFormat,
    MatchMetrics,
    MatchRequest,
    MatchResult,
    Objective,
    SolverInfo,
    Unmatched,
    UnmatchedReason,
    parse_weights,
)
from matching.domain.errors import NotFoundError, RunAlreadyPublishedError, StaleRunError
from matching.domain.pairs import Proposal
from matching.domain.pool import BuiltPool
from mentorship_contracts import EventContract
from mentorship_contracts.common import Format
from mentorship_contracts.matching import (
    ExplanationFactor,
    GroupMetric,
    MatchRunCompleted,
    MatchRunProposalsRecorded,
    MatchRunPublished,
    ProposalRecord,
    RunMetrics,
    SolverSummary,
    UnmatchedRecord,
)
from mentorship_contracts.matching import Objective as ObjectiveName

# Parts small enough for any broker: ~200 proposals of 7 factors is about 120 kB.
PROPOSALS_PER_PART: Final = 200
UNMATCHED_PER_PART: Final = 500
_IDS: Final = uuid.UUID("6f3f3c4e-2b1a-4d0e-9d7a-5a9e2c1b7f10")

RunKind = Literal["run", "rematch"]
OBJECTIVES: Final[Mapping[Objective, ObjectiveName]] = {
    Objective.MAX_SCORE: "max_score",
    Objective.MAX_COVERAGE: "max_coverage",
    Objective.STABLE: "stable",
}
PAIR_FORMATS: Final[Mapping[MatchFormat, Format]] = {
    MatchFormat.ONE_TO_ONE: "one_to_one",
    MatchFormat.GROUP: "group",
    MatchFormat.PEER: "peer",
    MatchFormat.REVERSE: "reverse",
}


def stream_id(run_id: str) -> str:
    return f"match-run-{run_id}"


def pair_id_for(run_id: str, mentor_id: str, mentee_id: str) -> str:
    """The id a published proposal's pair gets: the same run never forms it twice."""
    return str(uuid.uuid5(_IDS, f"{run_id}\x00{mentor_id}\x00{mentee_id}"))


def _group_id(run_id: str, group: str | None) -> str | None:
    return None if group is None else str(uuid.uuid5(_IDS, f"{run_id}\x00group\x00{group}"))


@dataclass(frozen=True, slots=True)
class RunSettings:
    """What the admin asked for. `weights` are the API's: numbers or "must_have"."""

    objective: Objective = Objective.MAX_SCORE
    format: MatchFormat = MatchFormat.ONE_TO_ONE
    weights: Mapping[str, float | str] | None = None
    exclude_reporting_line: bool = True
    min_timezone_overlap_hours: float | None = None
    require_shared_language: bool = False
    department_preference: DepartmentPreference = DepartmentPreference.SAME
    seniority_gap: tuple[int, int] | None = None
    group_size: int = 4
    breakdown_by: str | None = None
    dry_run: bool = True

    def engine_request(self, built: BuiltPool) -> MatchRequest:
        """The engine's request; unknown or malformed weights raise the engine's 422s."""
        weights, must_have = parse_weights(dict(self.weights or {}))
        return MatchRequest(
            objective=self.objective,
            format=self.format,
            weights=weights,
            constraints=Constraints(
                exclude_reporting_line=self.exclude_reporting_line,
                min_timezone_overlap_hours=self.min_timezone_overlap_hours,
                require_shared_language=self.require_shared_language,
                must_have=must_have,
                blocked_pairs=built.blocked_pairs,
                previous_pairs=built.previous_pairs,
            ),
            department_preference=self.department_preference,
            seniority_gap=self.seniority_gap,
            group_size=self.group_size,
            breakdown_by=self.breakdown_by,
        )


@dataclass(frozen=True, slots=True)
class MatchRun:
    run_id: str
    program_id: str
    format: MatchFormat
    algorithm_version: str
    pool_fingerprint: str | None
    mentee_ids: tuple[str, ...] | None
    published: bool = False
    proposals: tuple[ProposalRecord, ...] = ()


def evolve(state: MatchRun | None, event: EventContract) -> MatchRun:
    if isinstance(event, MatchRunCompleted):
        return MatchRun(
            run_id=event.run_id,
            program_id=event.program_id,
            format=MatchFormat(event.format),
            algorithm_version=event.algorithm_version,
            pool_fingerprint=event.pool_fingerprint,
            mentee_ids=tuple(event.mentee_ids) if event.mentee_ids is not None else None,
        )
    if state is None:
        msg = f"{type(event).__name__} before MatchRunCompleted"
        raise ValueError(msg)
    if isinstance(event, MatchRunProposalsRecorded):
        return replace(state, proposals=state.proposals + tuple(event.proposals))
    if isinstance(event, MatchRunPublished):
        return replace(state, published=True)
    return state


@dataclass(frozen=True, slots=True)
class RecordRun:
    run_id: str
    program_id: str
    kind: RunKind
    settings: RunSettings
    built: BuiltPool
    result: MatchResult
    mentee_ids: tuple[str, ...] | None
    completed_at: datetime


def record(command: RecordRun) -> list[EventContract]:
    """MatchRunCompleted, then the proposals and unmatched mentees in parts."""
    result, settings = command.result, command.settings
    proposals = [_proposal_record(command.run_id, a) for a in result.assignments]
    unmatched = [_unmatched_record(u) for u in result.unmatched]
    parts = max(
        math.ceil(len(proposals) / PROPOSALS_PER_PART),
        math.ceil(len(unmatched) / UNMATCHED_PER_PART),
    )
    request = settings.engine_request(command.built)
    completed = MatchRunCompleted(
        run_id=command.run_id,
        program_id=command.program_id,
        objective=OBJECTIVES[result.objective],
        format=PAIR_FORMATS[result.format],
        weights=dict(result.weights),
        constraints={
            "exclude_reporting_line": settings.exclude_reporting_line,
            "min_timezone_overlap_hours": settings.min_timezone_overlap_hours,
            "require_shared_language": settings.require_shared_language,
            "blocked_pairs": len(command.built.blocked_pairs),
            "previous_pairs": len(command.built.previous_pairs),
        },
        algorithm_version=result.algorithm_version,
        dry_run=settings.dry_run,
        metrics=_metrics(result.metrics, len(unmatched)),
        kind=command.kind,
        must_have=sorted(result.must_have),
        options={
            "department_preference": request.department_preference.value,
            "seniority_gap": list(request.seniority_gap) if request.seniority_gap else None,
            "seniority_tolerance": request.seniority_tolerance,
            "group_size": request.group_size,
            "working_hours": list(request.working_hours),
        },
        breakdown_by=result.metrics.breakdown_by,
        breakdown=[
            GroupMetric(
                group=g.group,
                mentees=g.mentees,
                matched=g.matched,
                coverage=g.coverage,
                mean_score=g.mean_score,
            )
            for g in result.metrics.breakdown
        ],
        solver=SolverSummary(
            method=result.solver.method,
            graph=result.solver.graph,
            arcs=result.solver.arcs,
            feasible_pairs=result.solver.feasible_pairs,
            exact=result.solver.exact,
        ),
        mentee_ids=list(command.mentee_ids) if command.mentee_ids is not None else None,
        pool_fingerprint=command.built.fingerprint,
        parts=parts,
        warnings=list(command.built.warnings),
        completed_at=command.completed_at,
    )
    return [
        completed,
        *(
            MatchRunProposalsRecorded(
                run_id=command.run_id,
                program_id=command.program_id,
                part=part + 1,
                proposals=proposals[part * PROPOSALS_PER_PART : (part + 1) * PROPOSALS_PER_PART],
                unmatched=unmatched[part * UNMATCHED_PER_PART : (part + 1) * UNMATCHED_PER_PART],
            )
            for part in range(parts)
        ),
    ]


def _metrics(metrics: MatchMetrics, unmatched: int) -> RunMetrics:
    return RunMetrics(
        coverage=metrics.coverage,
        mean_score=metrics.mean_score,
        min_score=metrics.min_score,
        capacity_used=metrics.capacity_used,
        matched=metrics.matched,
        unmatched=unmatched,
        mentees=metrics.mentees,
        total_score=metrics.total_score,
        slots_used=metrics.slots_used,
        slots_total=metrics.slots_total,
    )


def _proposal_record(run_id: str, assignment: Assignment) -> ProposalRecord:
    return ProposalRecord(
        mentor_id=assignment.mentor_id,
        mentee_id=assignment.mentee_id,
        score=assignment.score,
        explanation=[
            ExplanationFactor(
                factor=f.factor, weight=f.weight, value=f.value, contribution=f.contribution
            )
            for f in assignment.explanation
        ],
        group_id=_group_id(run_id, assignment.group_id),
    )


def _unmatched_record(unmatched: Unmatched) -> UnmatchedRecord:
    return UnmatchedRecord(
        employee_id=unmatched.employee_id,
        reason=unmatched.reason.value,
        detail=unmatched.detail,
        excluded_by=dict(unmatched.excluded_by),
    )


def publish(
    state: MatchRun | None,
    run_id: str,
    *,
    auto_accept: bool,
    current_fingerprint: str,
    now: datetime,
) -> tuple[list[EventContract], list[Proposal]]:
    """MatchRunPublished and the pairs to propose; refused when published or stale."""
    if state is None:
        raise NotFoundError("match run", run_id)
    if state.published:
        raise RunAlreadyPublishedError(run_id)
    if state.pool_fingerprint != current_fingerprint:
        raise StaleRunError(run_id)
    pair_format = PAIR_FORMATS[state.format]
    proposals = [
        Proposal(
            pair_id=pair_id_for(run_id, p.mentor_id, p.mentee_id),
            program_id=state.program_id,
            mentor_id=p.mentor_id,
            mentee_id=p.mentee_id,
            format=pair_format,
            score=p.score,
            explanation=tuple(p.explanation),
            algorithm_version=state.algorithm_version,
            group_id=p.group_id,
            run_id=run_id,
        )
        for p in state.proposals
    ]
    published = MatchRunPublished(
        run_id=run_id,
        program_id=state.program_id,
        auto_accept=auto_accept,
        pair_ids=[p.pair_id for p in proposals],
        published_at=now,
    )
    return [published], proposals


def result_of(
    completed: MatchRunCompleted,
    proposals: Sequence[ProposalRecord],
    unmatched: Sequence[UnmatchedRecord],
) -> MatchResult:
    """The engine's result as it was recorded, to compare two stored runs."""
    metrics = completed.metrics
    scores = [p.score for p in proposals]
    solver = completed.solver
    return MatchResult(
        algorithm_version=completed.algorithm_version,
        objective=Objective(completed.objective),
        format=MatchFormat(completed.format),
        weights=dict(completed.weights),
        must_have=frozenset(completed.must_have),
        assignments=tuple(
            Assignment(
                mentor_id=p.mentor_id,
                mentee_id=p.mentee_id,
                score=p.score,
                explanation=tuple(
                    FactorContribution(f.factor, f.weight, f.value, f.contribution)
                    for f in p.explanation
                ),
                group_id=p.group_id,
            )
            for p in proposals
        ),
        unmatched=tuple(
            Unmatched(
                employee_id=u.employee_id,
                reason=UnmatchedReason(u.reason),
                detail=u.detail,
                excluded_by=tuple(u.excluded_by.items()),
            )
            for u in unmatched
        ),
        metrics=MatchMetrics(
            mentees=metrics.mentees
            if metrics.mentees is not None
            else metrics.matched + metrics.unmatched,
            matched=metrics.matched,
            coverage=metrics.coverage,
            mean_score=metrics.mean_score,
            min_score=metrics.min_score,
            total_score=metrics.total_score if metrics.total_score is not None else sum(scores),
            capacity_used=metrics.capacity_used,
            slots_used=metrics.slots_used or 0,
            slots_total=metrics.slots_total or 0,
            breakdown_by=completed.breakdown_by,
            breakdown=tuple(
                GroupMetrics(g.group, g.mentees, g.matched, g.coverage, g.mean_score)
                for g in completed.breakdown
            ),
        ),
        solver=SolverInfo(
            method=solver.method if solver else "unknown",
            graph=solver.graph if solver else "unknown",
            arcs=solver.arcs if solver else 0,
            feasible_pairs=solver.feasible_pairs if solver else 0,
            exact=solver.exact if solver else False,
        ),
    )
