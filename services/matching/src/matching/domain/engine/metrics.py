"""Run metrics, including coverage and mean score per group of a chosen attribute."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from matching.domain.engine.errors import MatchingInputError
from matching.domain.engine.model import Assignment, CandidateProfile, GroupMetrics, MatchMetrics

if TYPE_CHECKING:
    from collections.abc import Sequence

UNKNOWN_GROUP = "unknown"
_BUILT_IN = ("department", "job_level")


def group_of(profile: CandidateProfile, attribute: str) -> str:
    """The value of a breakdown attribute: department, job level or a custom label."""
    if attribute == "department":
        return profile.department if profile.department is not None else UNKNOWN_GROUP
    if attribute == "job_level":
        return str(profile.job_level)
    return profile.attributes.get(attribute, UNKNOWN_GROUP)


def check_breakdown(attribute: str | None, profiles: Sequence[CandidateProfile]) -> None:
    """A breakdown attribute must be built in or carried by at least one candidate."""
    if attribute is None or attribute in _BUILT_IN:
        return
    if profiles and not any(attribute in p.attributes for p in profiles):
        raise MatchingInputError(
            "breakdown_by", f"no candidate carries the attribute {attribute!r}"
        )


def compute_metrics(
    mentees: Sequence[CandidateProfile],
    assignments: Sequence[Assignment],
    *,
    peer: bool,
    slots_total: int,
    breakdown_by: str | None,
) -> MatchMetrics:
    """Coverage is over `mentees` (every peer in the peer format)."""
    score_of: dict[str, list[float]] = defaultdict(list)
    for assignment in assignments:
        score_of[assignment.mentee_id].append(assignment.score)
        if peer:
            score_of[assignment.mentor_id].append(assignment.score)
    scores = [a.score for a in assignments]
    matched = sum(1 for m in mentees if m.employee_id in score_of)
    slots_used = len(assignments) * (2 if peer else 1)
    return MatchMetrics(
        mentees=len(mentees),
        matched=matched,
        coverage=matched / len(mentees) if mentees else 0.0,
        mean_score=sum(scores) / len(scores) if scores else None,
        min_score=min(scores) if scores else None,
        total_score=sum(scores),
        capacity_used=slots_used / slots_total if slots_total else 0.0,
        slots_used=slots_used,
        slots_total=slots_total,
        breakdown_by=breakdown_by,
        breakdown=_breakdown(mentees, score_of, breakdown_by) if breakdown_by else (),
    )


def _breakdown(
    mentees: Sequence[CandidateProfile], score_of: dict[str, list[float]], attribute: str
) -> tuple[GroupMetrics, ...]:
    members: dict[str, list[CandidateProfile]] = defaultdict(list)
    for mentee in mentees:
        members[group_of(mentee, attribute)].append(mentee)
    groups = []
    for group in sorted(members):
        scores = [s for m in members[group] for s in score_of.get(m.employee_id, ())]
        matched = sum(1 for m in members[group] if m.employee_id in score_of)
        groups.append(
            GroupMetrics(
                group=group,
                mentees=len(members[group]),
                matched=matched,
                coverage=matched / len(members[group]),
                mean_score=sum(scores) / len(scores) if scores else None,
            )
        )
    return tuple(groups)
