"""The pure matching engine: scoring, hard constraints, solvers and explanations.

Callers build a `MatchPool` and a `MatchRequest` and call `match`; everything else here
is the vocabulary of its answer. No I/O, no clock, no randomness: the same input always
produces the same `MatchResult`.
"""

from matching.domain.engine.compare import RunComparison, compare_results
from matching.domain.engine.engine import match
from matching.domain.engine.errors import (
    DuplicateCandidateError,
    InvalidTimezoneError,
    InvalidWeightError,
    MatchingInputError,
    UnknownAttributeError,
    UnsupportedCombinationError,
)
from matching.domain.engine.metrics import group_of
from matching.domain.engine.model import (
    ALGORITHM_VERSION,
    Assignment,
    CandidateProfile,
    Constraints,
    DepartmentPreference,
    FactorContribution,
    GroupMetrics,
    MatchFormat,
    MatchMetrics,
    MatchPool,
    MatchRequest,
    MatchResult,
    Objective,
    Role,
    SolverInfo,
    SolverOptions,
    Unmatched,
    UnmatchedReason,
)
from matching.domain.engine.weights import DEFAULT_WEIGHTS, FACTORS, MUST_HAVE, parse_weights

__all__ = [
    "ALGORITHM_VERSION",
    "DEFAULT_WEIGHTS",
    "FACTORS",
    "MUST_HAVE",
    "Assignment",
    "CandidateProfile",
    "Constraints",
    "DepartmentPreference",
    "DuplicateCandidateError",
    "FactorContribution",
    "GroupMetrics",
    "InvalidTimezoneError",
    "InvalidWeightError",
    "MatchFormat",
    "MatchMetrics",
    "MatchPool",
    "MatchRequest",
    "MatchResult",
    "MatchingInputError",
    "Objective",
    "Role",
    "RunComparison",
    "SolverInfo",
    "SolverOptions",
    "UnknownAttributeError",
    "Unmatched",
    "UnmatchedReason",
    "UnsupportedCombinationError",
    "compare_results",
    "group_of",
    "match",
    "parse_weights",
]
