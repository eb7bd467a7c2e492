"""Two runs side by side: which pairs differ, who changed mentor, how the metrics moved."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matching.domain.engine.model import Assignment, MatchResult

_COMPARED_METRICS = ("coverage", "mean_score", "min_score", "total_score", "capacity_used")


@dataclass(frozen=True, slots=True)
class PairDifference:
    """A pair in both runs (with both scores) or in one (the other score is None)."""

    mentor_id: str
    mentee_id: str
    score_a: float | None
    score_b: float | None


@dataclass(frozen=True, slots=True)
class MenteeChange:
    """A mentee whose mentors differ between the runs (empty tuple: unmatched)."""

    mentee_id: str
    mentors_a: tuple[str, ...]
    mentors_b: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MetricDifference:
    """``delta = b - a`` when both are numbers."""

    metric: str
    a: float | None
    b: float | None
    delta: float | None


@dataclass(frozen=True, slots=True)
class GroupDifference:
    group: str
    coverage_a: float | None
    coverage_b: float | None
    mean_score_a: float | None
    mean_score_b: float | None


@dataclass(frozen=True, slots=True)
class RunComparison:
    only_in_a: tuple[PairDifference, ...]
    only_in_b: tuple[PairDifference, ...]
    in_both: tuple[PairDifference, ...]
    mentees_changed: tuple[MenteeChange, ...]
    metrics: tuple[MetricDifference, ...]
    breakdown: tuple[GroupDifference, ...]
    weights_changed: tuple[MetricDifference, ...]
    same_algorithm_version: bool


def compare_results(a: MatchResult, b: MatchResult) -> RunComparison:
    pairs_a, pairs_b = _pairs(a.assignments), _pairs(b.assignments)
    keys = sorted(pairs_a.keys() | pairs_b.keys())
    differences = [
        PairDifference(
            mentor_id=mentor,
            mentee_id=mentee,
            score_a=pairs_a[mentor, mentee].score if (mentor, mentee) in pairs_a else None,
            score_b=pairs_b[mentor, mentee].score if (mentor, mentee) in pairs_b else None,
        )
        for mentor, mentee in keys
    ]
    return RunComparison(
        only_in_a=tuple(d for d in differences if d.score_b is None),
        only_in_b=tuple(d for d in differences if d.score_a is None),
        in_both=tuple(d for d in differences if d.score_a is not None and d.score_b is not None),
        mentees_changed=_mentee_changes(a, b),
        metrics=tuple(
            _difference(name, getattr(a.metrics, name), getattr(b.metrics, name))
            for name in _COMPARED_METRICS
        ),
        breakdown=_group_differences(a, b),
        weights_changed=tuple(
            _difference(name, a.weights.get(name), b.weights.get(name))
            for name in sorted(a.weights.keys() | b.weights.keys())
            if a.weights.get(name) != b.weights.get(name)
        ),
        same_algorithm_version=a.algorithm_version == b.algorithm_version,
    )


def _pairs(assignments: tuple[Assignment, ...]) -> dict[tuple[str, str], Assignment]:
    return {(x.mentor_id, x.mentee_id): x for x in assignments}


def _mentors_by_mentee(result: MatchResult) -> dict[str, tuple[str, ...]]:
    mentors: dict[str, list[str]] = {}
    for x in result.assignments:
        mentors.setdefault(x.mentee_id, []).append(x.mentor_id)
    return {mentee: tuple(sorted(ids)) for mentee, ids in mentors.items()}


def _mentee_changes(a: MatchResult, b: MatchResult) -> tuple[MenteeChange, ...]:
    mentors_a, mentors_b = _mentors_by_mentee(a), _mentors_by_mentee(b)
    changes = []
    for mentee in sorted(mentors_a.keys() | mentors_b.keys()):
        before, after = mentors_a.get(mentee, ()), mentors_b.get(mentee, ())
        if before != after:
            changes.append(MenteeChange(mentee_id=mentee, mentors_a=before, mentors_b=after))
    return tuple(changes)


def _difference(metric: str, a: float | None, b: float | None) -> MetricDifference:
    delta = b - a if a is not None and b is not None else None
    return MetricDifference(metric=metric, a=a, b=b, delta=delta)


def _group_differences(a: MatchResult, b: MatchResult) -> tuple[GroupDifference, ...]:
    if a.metrics.breakdown_by != b.metrics.breakdown_by:
        return ()
    groups_a = {g.group: g for g in a.metrics.breakdown}
    groups_b = {g.group: g for g in b.metrics.breakdown}
    differences = []
    for name in sorted(groups_a.keys() | groups_b.keys()):
        ga, gb = groups_a.get(name), groups_b.get(name)
        differences.append(
            GroupDifference(
                group=name,
                coverage_a=ga.coverage if ga else None,
                coverage_b=gb.coverage if gb else None,
                mean_score_a=ga.mean_score if ga else None,
                mean_score_b=gb.mean_score if gb else None,
            )
        )
    return tuple(differences)
