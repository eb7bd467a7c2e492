"""Events published by the matching service: runs, proposals, pairs, requests."""

from __future__ import annotations

from datetime import date, datetime
from typing import ClassVar, Literal

from pydantic import Field

from mentorship_contracts.base import EventContract, registry
from mentorship_contracts.common import EmployeeId, Format, Frozen

SERVICE = "matching"

Objective = Literal["max_score", "max_coverage", "stable"]
EndReason = Literal[
    "completed", "withdrawal", "departure", "failed_fit", "admin", "mentor_request", "other"
]
# Why the system (not a member) withdrew a proposal: one of its members left.
SystemDeclineReason = Literal["withdrawal", "departure"]


class ExplanationFactor(Frozen):
    """One factor of a pair's score; contributions add up to the score."""

    factor: str
    weight: float
    value: float
    contribution: float


class RunMetrics(Frozen):
    coverage: float
    mean_score: float | None
    min_score: float | None
    capacity_used: float
    matched: int
    unmatched: int
    mentees: int | None = Field(default=None, description="Mentees (peers) the run considered.")
    total_score: float | None = None
    slots_used: int | None = Field(default=None, description="Mentor slots filled.")
    slots_total: int | None = Field(default=None, description="Mentor slots offered.")


class GroupMetric(Frozen):
    """Coverage and mean score of the mentees sharing one value of the breakdown attribute."""

    group: str
    mentees: int
    matched: int
    coverage: float
    mean_score: float | None


class SolverSummary(Frozen):
    """How the pairs were found; `exact` says the objective is proven optimal."""

    method: str
    graph: str
    arcs: int
    feasible_pairs: int
    exact: bool


class ProposalRecord(Frozen):
    """One pair a run proposes, with the explanation of its score."""

    mentor_id: EmployeeId
    mentee_id: EmployeeId
    score: float
    explanation: list[ExplanationFactor]
    group_id: str | None = None


class UnmatchedRecord(Frozen):
    """A mentee (or peer) a run left without a pair, and why."""

    employee_id: EmployeeId
    reason: str
    detail: str
    excluded_by: dict[str, int] = Field(
        default_factory=dict,
        description="Per hard constraint, how many potential partners it rules out.",
    )


class MatchRunCompleted(EventContract):
    """A match run finished (dry runs too; only published runs form pairs)."""

    service: ClassVar[str] = SERVICE
    aggregate: ClassVar[str] = "match_run"
    action: ClassVar[str] = "completed"
    run_id: str
    program_id: str
    objective: Objective
    format: Format
    weights: dict[str, float]
    constraints: dict[str, bool | float | int | str | list[str] | None]
    algorithm_version: str
    dry_run: bool
    metrics: RunMetrics
    kind: Literal["run", "rematch"] = "run"
    must_have: list[str] = Field(
        default_factory=list, description="Attributes used as filters (their factor must be > 0)."
    )
    options: dict[str, bool | float | int | str | list[float] | None] = Field(
        default_factory=dict,
        description="Further request settings (department preference, seniority gap, group "
        "size, default capacity, working hours).",
    )
    breakdown_by: str | None = None
    breakdown: list[GroupMetric] = Field(default_factory=list)
    solver: SolverSummary | None = None
    mentee_ids: list[EmployeeId] | None = Field(
        default=None, description="A rematch's mentees, when it was limited to some."
    )
    pool_fingerprint: str | None = Field(
        default=None,
        description="Digest of the engine's whole input; publishing needs the pool unchanged.",
    )
    parts: int = Field(
        default=0, ge=0, description="MatchRunProposalsRecorded events that follow this one."
    )
    warnings: list[str] = Field(default_factory=list)
    completed_at: datetime | None = None


class MatchRunProposalsRecorded(EventContract):
    """One part of a run's proposals and unmatched mentees, kept forever with the run.

    A run's proposals are split into parts so that no message outgrows the broker's
    message size limit; `part` counts from 1 to `parts` of MatchRunCompleted.
    """

    service: ClassVar[str] = SERVICE
    aggregate: ClassVar[str] = "match_run"
    action: ClassVar[str] = "proposals_recorded"
    run_id: str
    program_id: str
    part: int = Field(ge=1)
    proposals: list[ProposalRecord]
    unmatched: list[UnmatchedRecord]


class MatchRunPublished(EventContract):
    """A run's proposals were turned into pairs."""

    service: ClassVar[str] = SERVICE
    aggregate: ClassVar[str] = "match_run"
    action: ClassVar[str] = "published"
    run_id: str
    program_id: str
    auto_accept: bool
    pair_ids: list[str]
    published_at: datetime | None = None


class _PairEvent(EventContract):
    service: ClassVar[str] = SERVICE
    aggregate: ClassVar[str] = "pair"
    pair_id: str
    program_id: str
    mentor_id: EmployeeId
    mentee_id: EmployeeId


class PairProposed(_PairEvent):
    """The matcher proposed a mentor-mentee pair, with its explanation."""

    action: ClassVar[str] = "proposed"
    run_id: str | None
    format: Format
    group_id: str | None = None
    score: float
    explanation: list[ExplanationFactor]
    algorithm_version: str
    proposed_on: date
    request_id: str | None = Field(
        default=None, description="The self-directed mentor request the pair comes from."
    )


class PairAccepted(_PairEvent):
    """One side of a proposed pair accepted."""

    action: ClassVar[str] = "accepted"
    side: Literal["mentor", "mentee", "admin"]
    accepted_by: str


class PairFormed(_PairEvent):
    """Both sides accepted (or the run auto-accepted): the pair is active."""

    action: ClassVar[str] = "formed"
    format: Format
    group_id: str | None = None
    formed_on: date


class PairDeclined(_PairEvent):
    """A side declined a proposed pair; both return to the pool."""

    action: ClassVar[str] = "declined"
    side: Literal["mentor", "mentee", "admin"]
    declined_by: str
    declined_on: date
    reason: SystemDeclineReason | None = Field(
        default=None,
        description="Set when the proposal was withdrawn because `declined_by` left the "
        "program (withdrawal) or the organisation (departure); absent for a member's own no.",
    )


class PairEnded(_PairEvent):
    """An active pair ended."""

    action: ClassVar[str] = "ended"
    reason: EndReason
    ended_by: str | None
    ended_on: date


class _RequestEvent(EventContract):
    service: ClassVar[str] = SERVICE
    aggregate: ClassVar[str] = "mentor_request"
    request_id: str
    program_id: str
    mentee_id: EmployeeId
    mentor_id: EmployeeId


class MentorRequested(_RequestEvent):
    """Self-directed: a mentee asked a mentor; the mentor may accept or decline."""

    action: ClassVar[str] = "requested"
    choice_rank: int = Field(ge=1)
    expires_at: datetime
    choices: list[EmployeeId] = Field(
        default_factory=list, description="The mentee's whole ranking, first choice first."
    )


class MentorRequestDeclined(_RequestEvent):
    """The mentor declined; the mentee's next choice is asked."""

    action: ClassVar[str] = "declined"
    reason: SystemDeclineReason | None = Field(
        default=None,
        description="Set when the mentor did not answer but left the program (withdrawal) "
        "or the organisation (departure); absent for the mentor's own no.",
    )


class MentorRequestExpired(_RequestEvent):
    """Nobody answered in time; the mentee's next choice is asked."""

    action: ClassVar[str] = "expired"


class MentorRequestAccepted(_RequestEvent):
    """The mentor accepted: the pair `pair_id` is active."""

    action: ClassVar[str] = "accepted"
    pair_id: str
    accepted_by: str


class MentorRequestExhausted(_RequestEvent):
    """No choice is left (all declined, expired or unavailable); the mentee is unmatched.

    `mentor_id` is the last mentor asked.
    """

    action: ClassVar[str] = "exhausted"


class MentorRequestCancelled(_RequestEvent):
    """The request ended without a pair because the mentee left the program or the
    organisation."""

    action: ClassVar[str] = "cancelled"
    reason: SystemDeclineReason


class _BlocklistEvent(EventContract):
    service: ClassVar[str] = SERVICE
    aggregate: ClassVar[str] = "blocklist"
    program_id: str
    block_id: str
    employee_ids: list[EmployeeId] = Field(min_length=2, max_length=2)


class PairBlocked(_BlocklistEvent):
    """An admin ruled out a pair of employees in a program (either way round)."""

    action: ClassVar[str] = "pair_blocked"
    reason: str | None = None


class PairUnblocked(_BlocklistEvent):
    """A blocked pair may be proposed again."""

    action: ClassVar[str] = "pair_unblocked"


registry().register(
    MatchRunCompleted,
    MatchRunProposalsRecorded,
    MatchRunPublished,
    PairProposed,
    PairAccepted,
    PairFormed,
    PairDeclined,
    PairEnded,
    MentorRequested,
    MentorRequestDeclined,
    MentorRequestExpired,
    MentorRequestAccepted,
    MentorRequestExhausted,
    MentorRequestCancelled,
    PairBlocked,
    PairUnblocked,
)
