"""Whether a mentee's chosen mentor can be asked now, and the pair's explained score.

A self-directed pair is chosen by the mentee, not optimised, but it is held to the same
hard constraints as a run's proposals (reporting lines, blocked and earlier pairs) and
needs a free slot. Its score is the engine's, with the default weights, so every pair
carries an explanation whatever its origin.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from matching.domain.engine import (
    Assignment,
    Constraints,
    MatchFormat,
    MatchRequest,
    Objective,
    match,
)
from matching.domain.pool import PoolSnapshot, mentor_capacity, pair_pool


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why the pair cannot be formed now; `lasting` when waiting will not help."""

    why: str
    lasting: bool


def assess(snapshot: PoolSnapshot, mentee_id: str, mentor_id: str) -> Assignment | Refusal:
    """The scored pair, or why the mentor cannot take this mentee now."""
    mentors = snapshot.enrolled("mentor")
    if mentor_id not in mentors:
        return Refusal("is not an enrolled mentor of the program", lasting=True)
    if mentee_id not in snapshot.enrolled("mentee"):
        return Refusal("is not an enrolled mentee of the program", lasting=True)
    if mentor_capacity(snapshot, mentors[mentor_id], MatchFormat.ONE_TO_ONE) == 0:
        return Refusal("has no free slot in the program", lasting=False)
    built = pair_pool(snapshot, mentee_id, mentor_id)
    result = match(
        built.pool,
        MatchRequest(
            # Coverage first: the mentee chose this mentor, so a low score still pairs.
            objective=Objective.MAX_COVERAGE,
            constraints=Constraints(
                exclude_reporting_line=True,
                blocked_pairs=built.blocked_pairs,
                previous_pairs=built.previous_pairs,
            ),
        ),
    )
    if not result.assignments:
        detail = result.unmatched[0].detail if result.unmatched else "infeasible"
        return Refusal(f"cannot be paired with {mentee_id!r}: {detail}", lasting=True)
    return result.assignments[0]


def available(snapshot: PoolSnapshot, mentee_id: str, choices: Sequence[str]) -> frozenset[str]:
    """The choices that could accept the mentee now."""
    return frozenset(
        mentor_id
        for mentor_id in choices
        if isinstance(assess(snapshot, mentee_id, mentor_id), Assignment)
    )
