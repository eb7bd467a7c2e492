"""Request and response bodies of the matching API (field names per API.md)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StringConstraints,
)

from matching.adapters.queries import (
    BlockView,
    CandidateView,
    PairView,
    RequestView,
    RunSummaryView,
    RunView,
)
from matching.application.queries import Comparison
from matching.application.runs import Published, RecordedRun
from matching.domain.engine import FACTORS, MUST_HAVE, DepartmentPreference, MatchFormat, Objective
from matching.domain.pool import BREAKDOWN_ATTRIBUTES
from matching.domain.runs import RunSettings
from mentorship_contracts.matching import MatchRunCompleted, ProposalRecord, UnmatchedRecord
from mentorship_kit.feed import HistoryEntry
from mentorship_kit.pagination import Page

# A program id as enrollment issues them, for the OpenAPI examples.
EXAMPLE_PROGRAM_ID = "prog-2025-engineering"
EmployeeId = Annotated[str, StringConstraints(min_length=1, max_length=200)]
WeightValue = (
    Annotated[StrictFloat, Field(ge=-100, le=100, allow_inf_nan=False)] | Literal["must_have"]
)


class _In(BaseModel):
    """Bodies are checked as written: no unknown fields, no 0 for false, no "2" for 2."""

    model_config = ConfigDict(extra="forbid")


class ConstraintsIn(_In):
    exclude_reporting_line: StrictBool = Field(
        default=True, description="No manager, skip-level manager or same-manager pairs."
    )
    min_timezone_overlap_hours: StrictFloat | None = Field(
        default=None,
        ge=0,
        le=24,
        description="Pairs must share more than this many working hours (9-17 local).",
    )
    require_shared_language: StrictBool = False


class MatchRunIn(_In):
    """A run's request. Weights not given keep their defaults; a weight may also be
    "must_have" (a filter: that factor must be positive)."""

    objective: Literal["max_score", "max_coverage", "stable"] = "max_score"
    format: Literal["one_to_one", "group", "peer", "reverse"] = "one_to_one"
    weights: dict[str, WeightValue] = Field(
        default_factory=dict,
        max_length=len(FACTORS),
        description=f"Per attribute: a number in [-100, 100] or {MUST_HAVE!r}. "
        f"Attributes: {', '.join(FACTORS)}; any other is refused with 422 naming it.",
        json_schema_extra={"propertyNames": {"enum": list(FACTORS)}},
    )
    constraints: ConstraintsIn = Field(default_factory=ConstraintsIn)
    dry_run: StrictBool = Field(
        default=True, description="A draft to review and publish later; false publishes now."
    )
    auto_accept: StrictBool = Field(
        default=False, description="With dry_run false: the pairs are active at once."
    )
    department_preference: Literal["same", "cross"] = "same"
    seniority_gap: tuple[StrictInt, StrictInt] | None = Field(
        default=None,
        description="Preferred [min, max] job-level gap (mentor minus mentee; reversed for "
        "reverse mentoring, absolute for peers); the format's default when absent.",
    )
    group_size: StrictInt = Field(
        default=4, ge=1, le=50, description="Group format: mentees per group."
    )
    breakdown_by: Literal["department", "job_level", "location", "timezone"] | None = Field(
        default=None,
        description="Report coverage and mean score per value of this attribute "
        f"({', '.join(BREAKDOWN_ATTRIBUTES)}).",
    )

    def settings(self) -> RunSettings:
        return RunSettings(
            objective=Objective(self.objective),
            format=MatchFormat(self.format),
            weights=dict(self.weights),
            exclude_reporting_line=self.constraints.exclude_reporting_line,
            min_timezone_overlap_hours=self.constraints.min_timezone_overlap_hours,
            require_shared_language=self.constraints.require_shared_language,
            department_preference=DepartmentPreference(self.department_preference),
            seniority_gap=self.seniority_gap,
            group_size=self.group_size,
            breakdown_by=self.breakdown_by,
            dry_run=self.dry_run,
        )


class RematchIn(MatchRunIn):
    mentee_ids: list[EmployeeId] | None = Field(
        default=None,
        min_length=1,
        max_length=10_000,
        description="The mentees (peers) to match; all unmatched ones when absent.",
    )


class PublishIn(_In):
    auto_accept: StrictBool = Field(
        default=False, description="Form the pairs as active instead of proposing them."
    )


class EndPairIn(_In):
    reason: Literal["completed", "failed_fit", "admin", "other"]


class MentorRequestIn(_In):
    mentor_ids: list[EmployeeId] = Field(
        min_length=1, max_length=5, description="Mentors in order of preference."
    )
    mentee_id: EmployeeId | None = Field(
        default=None, description="Staff only: the mentee asking. A participant asks for self."
    )


class BlockPairIn(_In):
    employee_ids: list[EmployeeId] = Field(min_length=2, max_length=2)
    reason: Annotated[str, StringConstraints(max_length=500)] | None = None


# -- answers -----------------------------------------------------------------------------


class ExplanationOut(BaseModel):
    factor: str
    weight: float
    value: float
    contribution: float


class ProposalOut(BaseModel):
    mentor_id: str
    mentee_id: str
    score: float = Field(description="The sum of the explanation's contributions.")
    group_id: str | None
    explanation: list[ExplanationOut]

    @classmethod
    def of(cls, p: ProposalRecord) -> ProposalOut:
        return cls(
            mentor_id=p.mentor_id,
            mentee_id=p.mentee_id,
            score=p.score,
            group_id=p.group_id,
            explanation=[ExplanationOut(**f.model_dump()) for f in p.explanation],
        )


class UnmatchedOut(BaseModel):
    employee_id: str
    reason: str
    detail: str
    excluded_by: dict[str, int]

    @classmethod
    def of(cls, u: UnmatchedRecord) -> UnmatchedOut:
        return cls(**u.model_dump())


class MetricsOut(BaseModel):
    coverage: float
    mean_score: float | None
    min_score: float | None
    capacity_used: float
    matched: int
    unmatched: int
    mentees: int | None
    total_score: float | None
    slots_used: int | None
    slots_total: int | None


class GroupMetricsOut(BaseModel):
    group: str
    mentees: int
    matched: int
    coverage: float
    mean_score: float | None


class SolverOut(BaseModel):
    method: str
    graph: str
    arcs: int
    feasible_pairs: int
    exact: bool


class RunSummaryOut(BaseModel):
    id: str
    status: Literal["completed", "published"]
    program_id: str
    kind: Literal["run", "rematch"]
    dry_run: bool
    objective: str
    format: str
    algorithm_version: str
    weights: dict[str, float]
    must_have: list[str]
    constraints: dict[str, Any]
    options: dict[str, Any]
    metrics: MetricsOut
    breakdown_by: str | None
    breakdown: list[GroupMetricsOut]
    solver: SolverOut | None
    warnings: list[str]
    mentee_ids: list[str] | None
    created_at: datetime
    published_at: datetime | None
    auto_accept: bool | None

    @classmethod
    def build(
        cls,
        record: MatchRunCompleted,
        *,
        status: Literal["completed", "published"],
        published_at: datetime | None,
        auto_accept: bool | None,
        created_at: datetime,
    ) -> dict[str, Any]:
        return {
            "id": record.run_id,
            "status": status,
            "program_id": record.program_id,
            "kind": record.kind,
            "dry_run": record.dry_run,
            "objective": record.objective,
            "format": record.format,
            "algorithm_version": record.algorithm_version,
            "weights": record.weights,
            "must_have": record.must_have,
            "constraints": record.constraints,
            "options": record.options,
            "metrics": MetricsOut(**record.metrics.model_dump()),
            "breakdown_by": record.breakdown_by,
            "breakdown": [GroupMetricsOut(**g.model_dump()) for g in record.breakdown],
            "solver": SolverOut(**record.solver.model_dump()) if record.solver else None,
            "warnings": record.warnings,
            "mentee_ids": record.mentee_ids,
            "created_at": record.completed_at or created_at,
            "published_at": published_at,
            "auto_accept": auto_accept,
        }

    @classmethod
    def of(cls, view: RunSummaryView) -> RunSummaryOut:
        return cls(
            **cls.build(
                view.record,
                status="published" if view.status == "published" else "completed",
                published_at=view.published_at,
                auto_accept=view.auto_accept,
                created_at=view.created_at,
            )
        )


class RunOut(RunSummaryOut):
    proposals: list[ProposalOut]
    unmatched: list[UnmatchedOut]

    @classmethod
    def of_view(cls, view: RunView) -> RunOut:
        summary = view.summary
        return cls(
            **cls.build(
                summary.record,
                status="published" if summary.status == "published" else "completed",
                published_at=summary.published_at,
                auto_accept=summary.auto_accept,
                created_at=summary.created_at,
            ),
            proposals=[ProposalOut.of(p) for p in view.proposals],
            unmatched=[UnmatchedOut.of(u) for u in view.unmatched],
        )

    @classmethod
    def of_recorded(cls, run: RecordedRun) -> RunOut:
        published = run.published
        return cls(
            **cls.build(
                run.completed,
                status="published" if published else "completed",
                published_at=published.published_at if published else None,
                auto_accept=published.auto_accept if published else None,
                created_at=run.recorded_at,
            ),
            proposals=[ProposalOut.of(p) for p in run.proposals],
            unmatched=[UnmatchedOut.of(u) for u in run.unmatched],
        )


class PublishedPairOut(BaseModel):
    pair_id: str
    mentor_id: str
    mentee_id: str
    status: Literal["proposed", "active"]
    score: float


class PublishOut(BaseModel):
    run_id: str
    status: Literal["published"] = "published"
    auto_accept: bool
    pairs: list[PublishedPairOut]

    @classmethod
    def of(cls, published: Published) -> PublishOut:
        status: Literal["proposed", "active"] = "active" if published.auto_accept else "proposed"
        return cls(
            run_id=published.run_id,
            auto_accept=published.auto_accept,
            pairs=[
                PublishedPairOut(
                    pair_id=p.pair_id,
                    mentor_id=p.mentor_id,
                    mentee_id=p.mentee_id,
                    status=status,
                    score=p.score,
                )
                for p in published.pairs
            ],
        )


class PairDifferenceOut(BaseModel):
    mentor_id: str
    mentee_id: str
    score_a: float | None
    score_b: float | None


class MenteeChangeOut(BaseModel):
    mentee_id: str
    mentors_a: list[str]
    mentors_b: list[str]


class DifferenceOut(BaseModel):
    name: str
    a: float | None
    b: float | None
    delta: float | None


class GroupDifferenceOut(BaseModel):
    group: str
    coverage_a: float | None
    coverage_b: float | None
    mean_score_a: float | None
    mean_score_b: float | None


class ComparisonOut(BaseModel):
    a: RunSummaryOut
    b: RunSummaryOut
    only_in_a: list[PairDifferenceOut]
    only_in_b: list[PairDifferenceOut]
    in_both: list[PairDifferenceOut]
    mentees_changed: list[MenteeChangeOut]
    metrics: list[DifferenceOut]
    breakdown: list[GroupDifferenceOut]
    weights_changed: list[DifferenceOut]
    same_algorithm_version: bool

    @classmethod
    def of(cls, comparison: Comparison) -> ComparisonOut:
        d = comparison.differences

        def pairs(items: tuple[Any, ...]) -> list[PairDifferenceOut]:
            return [
                PairDifferenceOut(
                    mentor_id=x.mentor_id,
                    mentee_id=x.mentee_id,
                    score_a=x.score_a,
                    score_b=x.score_b,
                )
                for x in items
            ]

        def differences(items: tuple[Any, ...]) -> list[DifferenceOut]:
            return [DifferenceOut(name=x.metric, a=x.a, b=x.b, delta=x.delta) for x in items]

        return cls(
            a=RunSummaryOut.of(comparison.a.summary),
            b=RunSummaryOut.of(comparison.b.summary),
            only_in_a=pairs(d.only_in_a),
            only_in_b=pairs(d.only_in_b),
            in_both=pairs(d.in_both),
            mentees_changed=[
                MenteeChangeOut(
                    mentee_id=m.mentee_id, mentors_a=list(m.mentors_a), mentors_b=list(m.mentors_b)
                )
                for m in d.mentees_changed
            ],
            metrics=differences(d.metrics),
            breakdown=[
                GroupDifferenceOut(
                    group=g.group,
                    coverage_a=g.coverage_a,
                    coverage_b=g.coverage_b,
                    mean_score_a=g.mean_score_a,
                    mean_score_b=g.mean_score_b,
                )
                for g in d.breakdown
            ],
            weights_changed=differences(d.weights_changed),
            same_algorithm_version=d.same_algorithm_version,
        )


class AcceptanceOut(BaseModel):
    mentor: bool
    mentee: bool


class PairOut(BaseModel):
    pair_id: str
    program_id: str
    run_id: str | None
    request_id: str | None
    mentor_id: str
    mentee_id: str
    format: str
    group_id: str | None
    status: Literal["proposed", "active", "declined", "ended"]
    score: float
    explanation: list[ExplanationOut]
    algorithm_version: str
    accepted: AcceptanceOut
    proposed_on: date
    proposed_at: datetime
    formed_on: date | None
    formed_at: datetime | None
    declined_on: date | None
    decline_reason: str | None
    ended_on: date | None
    ended_at: datetime | None
    end_reason: str | None

    @classmethod
    def of(cls, view: PairView) -> PairOut:
        return cls(
            pair_id=view.pair_id,
            program_id=view.program_id,
            run_id=view.run_id,
            request_id=view.request_id,
            mentor_id=view.mentor_id,
            mentee_id=view.mentee_id,
            format=view.format,
            group_id=view.group_id,
            status=view.status,
            score=view.score,
            explanation=[ExplanationOut(**f) for f in view.explanation],
            algorithm_version=view.algorithm_version,
            accepted=AcceptanceOut(mentor=view.mentor_accepted, mentee=view.mentee_accepted),
            proposed_on=view.proposed_on,
            proposed_at=view.proposed_at,
            formed_on=view.formed_on,
            formed_at=view.formed_at,
            declined_on=view.declined_on,
            decline_reason=view.decline_reason,
            ended_on=view.ended_on,
            ended_at=view.ended_at,
            end_reason=view.end_reason,
        )


class PairHistoryOut(BaseModel):
    pair_id: str
    items: list[HistoryEntry]


class MentorRequestOut(BaseModel):
    request_id: str
    program_id: str
    mentee_id: str
    mentor_id: str = Field(description="The mentor asked now (the last one asked when closed).")
    choices: list[str]
    choice_rank: int
    status: Literal["pending", "accepted", "exhausted", "cancelled"]
    expires_at: datetime
    pair_id: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, view: RequestView) -> MentorRequestOut:
        return cls(**_fields(view))


def _fields(view: Any) -> dict[str, Any]:
    return {name: getattr(view, name) for name in view.__slots__}


class BlockedPairOut(BaseModel):
    block_id: str
    program_id: str
    employee_ids: list[str]
    reason: str | None
    created_at: datetime

    @classmethod
    def of(cls, view: BlockView) -> BlockedPairOut:
        return cls(
            block_id=view.block_id,
            program_id=view.program_id,
            employee_ids=[view.employee_a, view.employee_b],
            reason=view.reason,
            created_at=view.created_at,
        )


class UnblockedOut(BaseModel):
    block_id: str
    status: Literal["unblocked"] = "unblocked"

    @classmethod
    def of(cls, block_id: str) -> UnblockedOut:
        return cls(block_id=block_id)


class CandidateOut(BaseModel):
    employee_id: str
    role: Literal["mentor", "mentee"]
    status: Literal["enrolled", "withdrawn"]
    active: bool = Field(description="False once the employee left the organisation.")
    enrolled_on: date
    live_pairs: int = Field(description="Proposed or active pairs in the program.")

    @classmethod
    def of(cls, view: CandidateView) -> CandidateOut:
        return cls(**_fields(view))


class PoolProgramOut(BaseModel):
    program_id: str
    status: str
    formats: list[str]
    mentor_capacity: int


class PoolPage(Page[CandidateOut]):
    program: PoolProgramOut
