"""The engine's vocabulary: candidates, requests and results, all immutable."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import date

# Stored with every result and every proposal so an explanation can always be read
# against the formula that produced it. Bump on any change to a factor, a constraint or
# a solver that can change scores or pairs.
ALGORITHM_VERSION = "matching-engine/1.0.0"


class Role(StrEnum):
    MENTOR = "mentor"
    MENTEE = "mentee"


class Objective(StrEnum):
    MAX_SCORE = "max_score"
    MAX_COVERAGE = "max_coverage"
    STABLE = "stable"


class MatchFormat(StrEnum):
    ONE_TO_ONE = "one_to_one"
    GROUP = "group"
    PEER = "peer"
    REVERSE = "reverse"


class DepartmentPreference(StrEnum):
    SAME = "same"
    CROSS = "cross"


@dataclass(frozen=True, slots=True)
class CandidateProfile:
    """One enrolled participant as the matcher sees them.

    `timezone` is an IANA name (``"Europe/Paris"``) or a UTC offset in hours (``5.5``,
    ``"+05:30"``, ``"UTC-3"``). `capacity` is the number of mentees a mentor takes
    (``None``: the request's default). `attributes` are extra labels (location, tenure
    band, ...) a run's metrics can be broken down by; they never influence a score.
    """

    employee_id: str
    role: Role
    skills_offered: frozenset[str] = frozenset()
    skills_sought: frozenset[str] = frozenset()
    goals: frozenset[str] = frozenset()
    interests: frozenset[str] = frozenset()
    languages: frozenset[str] = frozenset()
    timezone: str | float = "UTC"
    department: str | None = None
    job_level: int = 0
    manager_id: str | None = None
    capacity: int | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MatchPool:
    """The candidates of one run plus the reporting lines of the wider directory.

    `reporting_lines` maps employee id to manager id for everyone the directory knows,
    so skip-level managers are found even when the manager in between is not enrolled.
    A candidate's own `manager_id` takes precedence over the directory.
    """

    candidates: tuple[CandidateProfile, ...]
    reporting_lines: Mapping[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Constraints:
    """Hard constraints: a pair that violates one is never proposed.

    `blocked_pairs` and `previous_pairs` are unordered: ``("a", "b")`` also forbids
    ``("b", "a")``. `must_have` names attributes whose factor value must be positive.
    """

    exclude_reporting_line: bool = True
    min_timezone_overlap_hours: float | None = None
    require_shared_language: bool = False
    must_have: frozenset[str] = frozenset()
    blocked_pairs: tuple[tuple[str, str], ...] = ()
    previous_pairs: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class SolverOptions:
    """How hard the solvers work; defaults keep 10,000 x 2,000 under two seconds.

    Up to `full_graph_arc_limit` feasible pairs the bipartite solvers use every pair and
    the result is exactly optimal. Above it they use a candidate graph: each mentee's
    `mentee_candidates` best mentors plus each mentor's best
    ``mentor_candidates_per_slot * capacity + mentor_candidates_extra`` mentees.
    Peers are matched exactly on every feasible pair up to `peer_edge_limit` pairs;
    beyond it on each peer's `peer_candidates` best partners, grown by the optimality
    certificate while the graph stays within `peer_certificate_edge_limit` edges (the
    blossom algorithm's time grows with the edges).
    """

    full_graph_arc_limit: int = 1_000_000
    mentee_candidates: int = 20
    mentor_candidates_per_slot: int = 4
    mentor_candidates_extra: int = 12
    peer_edge_limit: int = 50_000
    peer_candidates: int = 20
    peer_certificate_edge_limit: int = 50_000


@dataclass(frozen=True, slots=True)
class MatchRequest:
    """What the admin asks for. Weights not given keep their default (see `weights`).

    `seniority_gap` is the preferred (min, max) job-level gap, mentor minus mentee
    (mentee minus mentor for reverse mentoring, absolute for peers); ``None`` takes the
    format's default. `reference_date` fixes daylight saving for IANA timezones;
    ``None`` uses standard (winter) time so a run never depends on the clock.
    """

    objective: Objective = Objective.MAX_SCORE
    format: MatchFormat = MatchFormat.ONE_TO_ONE
    weights: Mapping[str, float] = field(default_factory=dict)
    constraints: Constraints = Constraints()
    department_preference: DepartmentPreference = DepartmentPreference.SAME
    seniority_gap: tuple[int, int] | None = None
    seniority_tolerance: int = 2
    working_hours: tuple[float, float] = (9.0, 17.0)
    reference_date: date | None = None
    group_size: int = 4
    default_capacity: int = 1
    breakdown_by: str | None = None
    solver: SolverOptions = SolverOptions()


class FactorContribution(NamedTuple):
    """One line of an explanation: ``contribution == weight * value``.

    A named tuple rather than a dataclass: a run explains every pair, and building
    tens of thousands of these must stay cheap.
    """

    factor: str
    weight: float
    value: float
    contribution: float


@dataclass(frozen=True, slots=True)
class Assignment:
    """A proposed pair. For peers, `mentor_id` is the lexicographically smaller id."""

    mentor_id: str
    mentee_id: str
    score: float
    explanation: tuple[FactorContribution, ...]
    group_id: str | None = None


class UnmatchedReason(StrEnum):
    NO_FEASIBLE_MENTOR = "no_feasible_mentor"
    NO_FEASIBLE_PEER = "no_feasible_peer"
    CAPACITY_EXHAUSTED = "capacity_exhausted"
    SCORE_NOT_POSITIVE = "score_not_positive"
    NOT_SELECTED = "not_selected"


@dataclass(frozen=True, slots=True)
class Unmatched:
    """A mentee (or peer) left without a pair, and why.

    `excluded_by` counts, per hard constraint, how many potential partners it rules out
    for this person (a partner can be ruled out by several).
    """

    employee_id: str
    reason: UnmatchedReason
    detail: str
    excluded_by: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class GroupMetrics:
    """Coverage and scores of the mentees sharing one value of the breakdown attribute."""

    group: str
    mentees: int
    matched: int
    coverage: float
    mean_score: float | None


@dataclass(frozen=True, slots=True)
class MatchMetrics:
    """Run-level figures. Mentees means peers in the peer format.

    `capacity_used` is the share of mentor slots filled (``slots_used / slots_total``).
    """

    mentees: int
    matched: int
    coverage: float
    mean_score: float | None
    min_score: float | None
    total_score: float
    capacity_used: float
    slots_used: int
    slots_total: int
    breakdown_by: str | None = None
    breakdown: tuple[GroupMetrics, ...] = ()


@dataclass(frozen=True, slots=True)
class SolverInfo:
    """How the pairs were found, so a reader knows what the guarantee is.

    `graph` is ``"full"`` (every feasible pair) or ``"candidates"``; `exact` is true
    when the objective is proven optimal over every feasible pair.
    """

    method: str
    graph: str
    arcs: int
    feasible_pairs: int
    exact: bool


@dataclass(frozen=True, slots=True)
class MatchResult:
    algorithm_version: str
    objective: Objective
    format: MatchFormat
    weights: Mapping[str, float]
    must_have: frozenset[str]
    assignments: tuple[Assignment, ...]
    unmatched: tuple[Unmatched, ...]
    metrics: MatchMetrics
    solver: SolverInfo
