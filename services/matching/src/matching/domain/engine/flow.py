"""Capacitated assignment as min-cost flow (OR-tools), and augmenting-path checks.

Network: source -> each mentee (capacity 1) -> mentor (capacity 1 per arc) -> sink
(capacity = the mentor's slots). Scores become integer costs: OR-tools works on int64,
so scores are scaled to `resolution` units of the largest possible score.

- max_score: a zero-cost bypass source -> sink lets mentees stay unmatched, so the
  flow maximises the total score. Each arc also earns one tie-break unit worth less than
  a score unit, so among equally good assignments the one with more pairs wins.
- max_coverage: the maximum flow of minimum cost (`solve_max_flow_with_min_cost`):
  most pairs first, then the best total score among those.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from ortools.graph.python import min_cost_flow

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

_MAX_RESOLUTION = 1e9
# Headroom for OR-tools' cost scaling, which multiplies costs by about the node count.
_SAFE_MAGNITUDE = 2.0**60


class FlowSolverError(RuntimeError):
    """OR-tools reported a status other than optimal (a bug, never bad input)."""


@dataclass(frozen=True, slots=True)
class Transport:
    """An assignment problem on a given arc set."""

    mentees: int
    capacity: Ints
    rows: Ints
    cols: Ints
    scores: Floats
    score_bound: float

    def resolution(self) -> float:
        nodes = self.mentees + len(self.capacity) + 2
        safe = _SAFE_MAGNITUDE / ((nodes + 1) * (self.mentees + 2))
        return min(_MAX_RESOLUTION, safe)

    def units(self) -> Ints:
        """Scores as integers: `resolution` units per `score_bound`."""
        return self.units_of(self.scores)

    def units_of(self, scores: Floats) -> Ints:
        scale = self.resolution() / max(self.score_bound, 1e-12)
        return np.rint(scores * scale).astype(np.int64)

    def weights_of(self, units: Ints, *, coverage: bool) -> Ints:
        """The integer weight each objective maximises, per arc.

        max_score: ``units * (n + 1) + 1`` (the +1 prefers more pairs among equal
        totals and is worth less than one score unit); max_coverage: a bonus per pair
        larger than any difference in total units, plus the units.
        """
        if coverage:
            bonus = 2 * (self.mentees + 1) * int(self.resolution()) + 1
            return units + bonus
        weights: Ints = units * (self.mentees + 1) + 1
        return weights

    @staticmethod
    def usable(units: Ints, *, coverage: bool) -> Bools:
        """max_score never uses an arc scoring below zero; coverage uses every arc."""
        return np.ones(len(units), dtype=np.bool_) if coverage else units >= 0


def solve_max_score(problem: Transport) -> Ints:
    """Mentor index per mentee (-1: unmatched) maximising the total score."""
    units = problem.units()
    usable = problem.usable(units, coverage=False)
    costs = -problem.weights_of(units[usable], coverage=False)
    return _solve(problem, usable, costs, bypass=True)


def solve_max_coverage(problem: Transport) -> Ints:
    """Mentor index per mentee: maximum number of pairs, then maximum total score."""
    units = problem.units()
    return _solve(problem, problem.usable(units, coverage=True), -units, bypass=False)


def _solve(problem: Transport, usable: Bools, costs: Ints, *, bypass: bool) -> Ints:
    n, m = problem.mentees, len(problem.capacity)
    source, sink = 0, n + m + 1
    rows, cols = problem.rows[usable], problem.cols[usable]
    mentee_nodes = np.arange(1, n + 1, dtype=np.int64)
    mentor_nodes = np.arange(n + 1, n + m + 1, dtype=np.int64)
    tails = [np.zeros(n, np.int64), rows + 1, mentor_nodes]
    heads = [mentee_nodes, cols + n + 1, np.full(m, sink, np.int64)]
    capacities = [np.ones(n, np.int64), np.ones(len(rows), np.int64), problem.capacity]
    unit_costs = [np.zeros(n, np.int64), costs, np.zeros(m, np.int64)]
    if bypass:
        tails.append(np.array([source], np.int64))
        heads.append(np.array([sink], np.int64))
        capacities.append(np.array([n], np.int64))
        unit_costs.append(np.zeros(1, np.int64))
    flow = min_cost_flow.SimpleMinCostFlow()
    flow.add_arcs_with_capacity_and_unit_cost(
        np.concatenate(tails),
        np.concatenate(heads),
        np.concatenate(capacities),
        np.concatenate(unit_costs),
    )
    flow.set_nodes_supplies(np.array([source, sink]), np.array([n, -n]))
    status = flow.solve() if bypass else flow.solve_max_flow_with_min_cost()
    if status != flow.OPTIMAL:
        raise FlowSolverError(f"min-cost flow ended with status {status}")
    arc_ids = np.arange(n, n + len(rows), dtype=np.int64)
    used = np.asarray(flow.flows(arc_ids)) > 0
    mentor_of = np.full(n, -1, dtype=np.int64)
    mentor_of[rows[used]] = cols[used]
    return mentor_of


def augmenting_tree(feasible: Bools, mentor_of: Ints, capacity: Ints) -> tuple[Ints, Ints] | None:
    """Arcs of an alternating search tree holding an augmenting path, or None.

    Breadth-first from every unmatched mentee over *all* feasible pairs: an unmatched
    mentee reaches mentors, a full mentor leads on to the mentees it holds. Reaching a
    mentor with a free slot means one more pair is possible (Berge); exhausting the
    search without one proves the matching has maximum cardinality.
    """
    m = feasible.shape[1]
    load = np.bincount(mentor_of[mentor_of >= 0], minlength=m)
    visited = mentor_of < 0
    reached = np.zeros(m, dtype=np.bool_)
    frontier = np.flatnonzero(visited)
    tree_rows: list[Ints] = []
    tree_cols: list[Ints] = []
    while len(frontier):
        reach = feasible[frontier]
        new = np.flatnonzero(reach.any(axis=0) & ~reached)
        if len(new) == 0:
            return None
        parents = frontier[reach[:, new].argmax(axis=0)]
        tree_rows.append(parents.astype(np.int64))
        tree_cols.append(new.astype(np.int64))
        reached[new] = True
        if (load[new] < capacity[new]).any():
            return np.concatenate(tree_rows), np.concatenate(tree_cols)
        held = np.zeros(m, dtype=np.bool_)
        held[new] = True
        nxt = np.flatnonzero((mentor_of >= 0) & held[np.maximum(mentor_of, 0)] & ~visited)
        visited[nxt] = True
        frontier = nxt
    return None
