"""Factor values, pair scores and hard constraints, vectorised over blocks of mentees.

Every factor is written once as an element-wise formula over broadcastable arrays, then
evaluated either for a block (rows x every mentor, counts from matrix products) or for
a list of pairs (counts from element-wise products). Counts are exact integers either
way and the formulas are the same IEEE operations in the same order, so a stored
explanation reproduces the score the solver optimised bit for bit.

Factor values lie in [0, 1]:

- skills: share of the mentee's sought skills the mentor offers (peers: mean of both
  directions);
- goals: share of the mentee's goals the mentor also lists (peers: mean of both ways);
- interests: Jaccard similarity of interests;
- languages: 1 when they share a language;
- timezone: working-hours overlap / working-day length;
- department: 1 when same department (or different, for a cross-functional preference);
- seniority: 1 inside the preferred level gap, less per level outside it.

A pair's score is ``sum(weight[f] * value[f])`` over `FACTORS`, in that order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from matching.domain.engine.model import FactorContribution
from matching.domain.engine.weights import FACTORS

if TYPE_CHECKING:
    from collections.abc import Callable

    from matching.domain.engine.encoding import Problem, SparsePairs
    from matching.domain.engine.indicators import Indicator

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

_TABLE_FACTORS = frozenset({"timezone", "department", "seniority"})


def _coverage(count: Floats, size: Floats) -> Floats:
    """count / size, and 0 when the person listed nothing."""
    result: Floats = count / np.maximum(size, 1.0)
    return result


def _jaccard(count: Floats, size_a: Floats, size_b: Floats) -> Floats:
    # In place on one fresh array: the same operations as the plain expression.
    result: Floats = np.add(size_a, size_b)
    result -= count
    np.maximum(result, 1.0, out=result)
    np.divide(count, result, out=result)
    return result


def _mean(a: Floats, b: Floats) -> Floats:
    result: Floats = 0.5 * (a + b)
    return result


@dataclass(frozen=True, slots=True)
class _Geometry:
    """How to read per-person arrays and count overlaps for one evaluation shape.

    For a block, left values become columns (``values[rows][:, None]``) and right values
    rows (``values[None, :]``); for a list of pairs both are flat arrays.
    """

    shape: tuple[int, ...]
    left_of: Callable[[Floats], Floats]
    right_of: Callable[[Floats], Floats]
    count: Callable[[Indicator, Indicator], Floats]
    lookup: Callable[[Floats, Ints, Ints], Floats]
    pairs_in: Callable[[SparsePairs], Bools | None]
    right_flag: Callable[[Bools], Bools]


def _block_geometry(problem: Problem, rows: Ints) -> _Geometry:
    shape = (len(rows), len(problem.right))

    def lookup(table: Floats, left_codes: Ints, right_codes: Ints) -> Floats:
        picked: Floats = np.take(table[left_codes[rows]], right_codes, axis=1)
        return picked

    def pairs_in(pairs: SparsePairs) -> Bools | None:
        if len(pairs.rows) == 0:
            return None
        position = np.full(len(problem.left), -1, dtype=np.int64)
        position[rows] = np.arange(len(rows))
        at = position[pairs.rows]
        hit = at >= 0
        if not hit.any():
            return None
        mask = np.zeros(shape, dtype=np.bool_)
        mask[at[hit], pairs.cols[hit]] = True
        return mask

    return _Geometry(
        shape=shape,
        left_of=lambda values: values[rows][:, None],
        right_of=lambda values: values[None, :],
        count=lambda left, right: left.counts(rows, right),
        lookup=lookup,
        pairs_in=pairs_in,
        right_flag=lambda flags: np.broadcast_to(flags[None, :], shape),
    )


def _pair_geometry(problem: Problem, rows: Ints, cols: Ints) -> _Geometry:
    width = len(problem.right)

    def lookup(table: Floats, left_codes: Ints, right_codes: Ints) -> Floats:
        picked: Floats = table[left_codes[rows], right_codes[cols]]
        return picked

    def pairs_in(pairs: SparsePairs) -> Bools | None:
        keys = pairs.rows * width + pairs.cols  # sorted: pairs are sorted by (row, col)
        if len(keys) == 0:
            return None
        wanted = rows * width + cols
        at = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
        found: Bools = keys[at] == wanted
        return found

    return _Geometry(
        shape=(len(rows),),
        left_of=lambda values: values[rows],
        right_of=lambda values: values[cols],
        count=lambda left, right: left.pair_counts(rows, right, cols),
        lookup=lookup,
        pairs_in=pairs_in,
        right_flag=lambda flags: flags[cols],
    )


class _Factors:
    """Factor values (and the shared-language count) for one geometry, computed once."""

    def __init__(self, problem: Problem, geometry: _Geometry) -> None:
        self.problem = problem
        self.geometry = geometry
        self._cache: dict[str, Floats] = {}

    def language_count(self) -> Floats:
        if "language_count" not in self._cache:
            left, right = self.problem.left, self.problem.right
            self._cache["language_count"] = self.geometry.count(left.languages, right.languages)
        return self._cache["language_count"]

    def value(self, factor: str) -> Floats:
        if factor not in self._cache:
            self._cache[factor] = self._compute(factor)
        return self._cache[factor]

    def _compute(self, factor: str) -> Floats:  # noqa: PLR0911 - one branch per factor
        problem, g = self.problem, self.geometry
        left, right = problem.left, problem.right
        if factor == "skills":
            forward = _coverage(g.count(left.sought, right.offered), g.left_of(left.sought.sizes))
            if not problem.peer:
                return forward
            backward = _coverage(
                g.count(left.offered, right.sought), g.right_of(right.sought.sizes)
            )
            return _mean(forward, backward)
        if factor == "goals":
            shared = g.count(left.goals, right.goals)
            forward = _coverage(shared, g.left_of(left.goals.sizes))
            if not problem.peer:
                return forward
            return _mean(forward, _coverage(shared, g.right_of(right.goals.sizes)))
        if factor == "interests":
            return _jaccard(
                g.count(left.interests, right.interests),
                g.left_of(left.interests.sizes),
                g.right_of(right.interests.sizes),
            )
        if factor == "languages":
            return (self.language_count() > 0).astype(np.float64)
        table, left_codes, right_codes = self._table(factor)
        return g.lookup(table, left_codes, right_codes)

    def _table(self, factor: str) -> tuple[Floats, Ints, Ints]:
        """Factors that depend only on a code per person are read from a small table."""
        problem, left, right = self.problem, self.problem.left, self.problem.right
        if factor == "timezone":
            return problem.timezone_value, left.timezone, right.timezone
        if factor == "department":
            return problem.department_value, left.department, right.department
        return problem.seniority_value, left.level, right.level

    def score(self, *, consume: bool = False) -> Floats:
        """``sum(weight * value)`` in canonical order; zero weights add exactly nothing.

        With `consume`, each value array is turned into its contribution in place (the
        same multiplication, no temporary) and forgotten: the block path needs the
        values only for the constraints, which are evaluated first.
        """
        score: Floats | None = None
        for factor in FACTORS:
            weight = self.problem.weights[factor]
            if weight == 0.0:
                continue
            if consume and factor in _TABLE_FACTORS and factor not in self._cache:
                # weight * table, then look up: the same products, one pass fewer.
                table, left_codes, right_codes = self._table(factor)
                contribution = self.geometry.lookup(table * weight, left_codes, right_codes)
            elif consume:
                contribution = np.multiply(self.value(factor), weight, out=self.value(factor))
                del self._cache[factor]
            else:
                contribution = self.value(factor) * weight
            if score is None:
                score = contribution if consume else contribution.copy()
            else:
                score += contribution
        return score if score is not None else np.zeros(self.geometry.shape, dtype=np.float64)

    def violations(self) -> list[tuple[str, Bools]]:
        """Each hard constraint that rules out a pair here, with the pairs it rules out."""
        problem, g = self.problem, self.geometry
        constraints = problem.request.constraints
        found: list[tuple[str, Bools | None]] = []
        no_capacity = problem.right.capacity <= 0
        if no_capacity.any():
            found.append(("capacity", g.right_flag(no_capacity)))
        found.append(("same_person", g.pairs_in(problem.same_person)))
        if constraints.exclude_reporting_line:
            found.append(("reporting_line", g.pairs_in(problem.reporting_conflicts)))
        if constraints.require_shared_language:
            found.append(("language", self.language_count() <= 0))
        if constraints.min_timezone_overlap_hours is not None:
            ok = g.lookup(problem.timezone_ok, problem.left.timezone, problem.right.timezone)
            found.append(("timezone", ok <= 0))
        found.extend(
            (f"must_have:{factor}", self.value(factor) <= 0)
            for factor in FACTORS
            if factor in problem.must_have
        )
        found.append(("blocked", g.pairs_in(problem.blocked)))
        found.append(("previous_pair", g.pairs_in(problem.previous)))
        return [(name, mask) for name, mask in found if mask is not None]

    def feasible(self) -> Bools:
        ruled_out = np.zeros(self.geometry.shape, dtype=np.bool_)
        for _, violated in self.violations():
            np.logical_or(ruled_out, violated, out=ruled_out)
        return ~ruled_out


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Scores and feasibility, shaped (rows, mentors) for a block or (pairs,) for pairs."""

    scores: Floats
    feasible: Bools


def evaluate_block(problem: Problem, rows: Ints) -> Evaluation:
    """Every mentor against the mentees `rows` (mentees are rows, mentors columns)."""
    factors = _Factors(problem, _block_geometry(problem, rows))
    feasible = factors.feasible()
    return Evaluation(scores=factors.score(consume=True), feasible=feasible)


def evaluate_pairs(problem: Problem, rows: Ints, cols: Ints) -> Evaluation:
    factors = _Factors(problem, _pair_geometry(problem, rows, cols))
    return Evaluation(scores=factors.score(), feasible=factors.feasible())


def exclusions(problem: Problem, rows: Ints) -> list[list[tuple[str, int]]]:
    """For each mentee in `rows`: how many mentors each hard constraint rules out."""
    factors = _Factors(problem, _block_geometry(problem, rows))
    counts = [(name, violated.sum(axis=1)) for name, violated in factors.violations()]
    return [
        [(name, int(per_row[k])) for name, per_row in counts if per_row[k] > 0]
        for k in range(len(rows))
    ]


def explain(
    problem: Problem, rows: Ints, cols: Ints
) -> list[tuple[float, tuple[FactorContribution, ...]]]:
    """Score and factor-by-factor explanation of each pair (rows[k], cols[k]).

    The score is computed exactly as the solver saw it, and equals the sum of the
    listed contributions in their order.
    """
    factors = _Factors(problem, _pair_geometry(problem, rows, cols))
    scores = factors.score().tolist()
    columns = []
    for factor in FACTORS:
        weight = problem.weights[factor]
        value = factors.value(factor)
        # The very products the score summed (a zero weight contributes exactly 0).
        contribution = value * weight if weight != 0.0 else np.zeros(len(rows))
        columns.append((factor, weight, value.tolist(), contribution.tolist()))
    return [
        (
            scores[k],
            tuple(
                FactorContribution(factor, weight, values[k], contributions[k])
                for factor, weight, values, contributions in columns
            ),
        )
        for k in range(len(rows))
    ]
