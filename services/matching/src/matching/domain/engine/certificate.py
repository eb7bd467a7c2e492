"""Proof that an assignment found on the candidate graph is optimal on every pair.

The assignment is a maximum-weight b-matching; its LP relaxation is integral and its
dual is: minimise ``sum(u) + sum(capacity * v)`` subject to ``u[e] + v[r] >= w[e, r]``
for every feasible pair and ``u, v >= 0``. After solving on the candidate graph:

1. duals are read off the solution: a mentor's price v is the least value that keeps
   every candidate arc covered given each matched mentee's share
   ``u = w(own pair) - v(own mentor)`` (a longest-path fixpoint, a few vectorised
   sweeps); they must give ``dual objective == primal objective`` (complementary
   slackness) or nothing is claimed;
2. every pair outside the graph is then checked against the duals without scoring it:
   it scores at most ``min(row_bound, col_bound)`` (see `graph.Scan`), so only pairs
   whose bound exceeds ``u + v`` are suspects, and only suspects are scored exactly.

No violated pair left means the dual is feasible for the full problem and, by weak
duality, the assignment is optimal over every feasible pair. Violated pairs are added
to the graph and the caller solves again (column generation).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from matching.domain.engine.graph import Arcs
from matching.domain.engine.scoring import evaluate_pairs

if TYPE_CHECKING:
    from matching.domain.engine.encoding import Problem
    from matching.domain.engine.flow import Transport
    from matching.domain.engine.graph import Scan
    from matching.domain.engine.peer import PeerSolution, PeerWeights

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

# Stands in for an infinite bound in integer weight space (far above any real weight).
_HUGE = np.int64(2**62)
_ROW_BLOCK = 1024


@dataclass(frozen=True, slots=True)
class Certificate:
    """`proven`: optimal over every feasible pair; else `missing` arcs to add (or none:
    the duals could not be read, nothing is claimed)."""

    proven: bool
    missing: Arcs


def certify(
    problem: Problem,
    scan: Scan,
    transport: Transport,
    mentor_of: Ints,
    *,
    coverage: bool,
) -> Certificate:
    units = transport.units()
    usable = transport.usable(units, coverage=coverage)
    weights = transport.weights_of(units, coverage=coverage)
    duals = _duals(transport, mentor_of, usable, weights)
    if duals is None:
        return Certificate(proven=False, missing=Arcs.empty())
    u, v = duals
    rows, cols = _suspects(scan, transport, u, v, coverage=coverage)
    if len(rows) == 0:
        return Certificate(proven=True, missing=Arcs.empty())
    evaluation = evaluate_pairs(problem, rows, cols)
    exact_units = transport.units_of(evaluation.scores)
    violated = (
        evaluation.feasible
        & transport.usable(exact_units, coverage=coverage)
        & (transport.weights_of(exact_units, coverage=coverage) > u[rows] + v[cols])
    )
    if not violated.any():
        return Certificate(proven=True, missing=Arcs.empty())
    return Certificate(
        proven=False,
        missing=Arcs(rows[violated], cols[violated], evaluation.scores[violated]),
    )


def _duals(
    transport: Transport, mentor_of: Ints, usable: Bools, weights: Ints
) -> tuple[Ints, Ints] | None:
    n, m = transport.mentees, len(transport.capacity)
    rows, cols, weights = transport.rows[usable], transport.cols[usable], weights[usable]
    matched = np.flatnonzero(mentor_of >= 0)
    keys = rows * m + cols  # arcs are sorted by (row, col)
    at = np.searchsorted(keys, matched * m + mentor_of[matched])
    wanted = matched * m + mentor_of[matched]
    if len(matched) and (at.max() >= len(keys) or (keys[at] != wanted).any()):
        return None  # a matched pair is not a usable arc: nothing can be claimed
    own = np.zeros(n, dtype=np.int64)
    own[matched] = weights[at]
    v = np.zeros(m, dtype=np.int64)
    u = np.zeros(n, dtype=np.int64)
    u[matched] = own[matched]
    if len(rows):
        order = np.argsort(cols, kind="stable")
        grouped = cols[order]
        starts = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1]])
        heads = grouped[starts]
        for _ in range(m + 2):  # a longest path visits each mentor at most once
            u[matched] = own[matched] - v[mentor_of[matched]]
            need = np.maximum.reduceat((weights - u[rows])[order], starts)
            raised = np.maximum(v[heads], need)
            if np.array_equal(raised, v[heads]):
                break
            v[heads] = raised
        else:
            return None
    load = np.bincount(mentor_of[matched], minlength=m)
    primal = int(own.sum())
    dual = int(u.sum()) + int((transport.capacity * v).sum())
    if (u < 0).any() or (v[load < transport.capacity] != 0).any() or primal != dual:
        return None
    return u, v


def _suspects(
    scan: Scan, transport: Transport, u: Ints, v: Ints, *, coverage: bool
) -> tuple[Ints, Ints]:
    """Feasible pairs outside the graph whose score bound does not rule out a violation."""
    row_weight = _bound_weights(scan.row_bound, transport, coverage=coverage)
    col_weight = _bound_weights(scan.col_bound, transport, coverage=coverage)
    rows = np.flatnonzero(row_weight > u)  # v >= 0: other rows cannot violate
    cols = np.flatnonzero(col_weight > v + (u[rows].min() if len(rows) else 0))
    if len(rows) == 0 or len(cols) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    m = len(transport.capacity)
    # A violation at (e, r) needs bound > u[e] + v[r]; with margins per row and column
    # that is two comparisons of small vectors per cell, no weight arithmetic.
    row_room = row_weight[rows] - u[rows]
    col_room = col_weight[cols] - v[cols]
    found_rows: list[Ints] = []
    found_cols: list[Ints] = []
    for start in range(0, len(rows), _ROW_BLOCK):
        block = slice(start, start + _ROW_BLOCK)
        suspect = (v[None, cols] < row_room[block, None]) & (
            col_room[None, :] > u[rows[block], None]
        )
        at_row, at_col = np.nonzero(suspect)
        found_rows.append(rows[block][at_row])
        found_cols.append(cols[at_col])
    pair_rows, pair_cols = np.concatenate(found_rows), np.concatenate(found_cols)
    keep = scan.feasible[pair_rows, pair_cols]
    pair_rows, pair_cols = pair_rows[keep], pair_cols[keep]
    graph = transport.rows * m + transport.cols  # sorted: arcs are sorted by (row, col)
    keys = pair_rows * m + pair_cols
    at = np.minimum(np.searchsorted(graph, keys), max(len(graph) - 1, 0))
    outside = graph[at] != keys if len(graph) else np.ones(len(keys), dtype=np.bool_)
    return pair_rows[outside], pair_cols[outside]


def _bound_weights(bounds: Floats, transport: Transport, *, coverage: bool) -> Ints:
    finite = np.isfinite(bounds)
    units = transport.units_of(np.where(finite, bounds, 0.0))
    weights = transport.weights_of(units, coverage=coverage)
    if not coverage:
        # A bound below zero: every eligible arc of that row/column is in the graph.
        weights = np.where(units < 0, -_HUGE, weights)
    return np.where(finite, weights, np.where(bounds > 0, _HUGE, -_HUGE))


def certify_peers(
    problem: Problem,
    scan: Scan,
    edges: Arcs,
    solution: PeerSolution,
    weighting: PeerWeights,
) -> Certificate:
    """The same argument for the peer matching, with the blossom algorithm's duals.

    Edges in the graph are covered by the vertex and blossom duals (the algorithm's
    optimality conditions); an edge outside it is safe when the vertex duals alone cover
    it, ``y[i] + y[j] >= 2 w``. It scores at most ``min(row_bound[i], row_bound[j])``
    (it is in neither peer's top list), so only pairs whose bound allows more are scored.
    """
    y = solution.duals
    bound = np.where(np.isfinite(scan.row_bound), scan.row_bound, 0.0)
    units = weighting.units(bound)
    weight = 2 * weighting.weights(units)
    top = np.where(weighting.usable(units), weight, -_HUGE)
    top = np.where(np.isfinite(scan.row_bound), top, np.where(scan.row_bound > 0, _HUGE, -_HUGE))
    room = top - y  # a violation at (i, j) needs y[j] < room[i] and y[i] < room[j]
    rows = np.flatnonzero(room > y.min(initial=0))
    found_rows: list[Ints] = []
    found_cols: list[Ints] = []
    for start in range(0, len(rows), _ROW_BLOCK):
        block = rows[start : start + _ROW_BLOCK]
        suspect = (y[None, :] < room[block, None]) & (y[block, None] < room[None, :])
        suspect &= np.arange(len(y))[None, :] > block[:, None]  # each pair once, i < j
        at_row, at_col = np.nonzero(suspect)
        found_rows.append(block[at_row])
        found_cols.append(at_col.astype(np.int64))
    if not found_rows:
        return Certificate(proven=True, missing=Arcs.empty())
    pair_rows, pair_cols = np.concatenate(found_rows), np.concatenate(found_cols)
    keep = scan.feasible[pair_rows, pair_cols]
    pair_rows, pair_cols = pair_rows[keep], pair_cols[keep]
    width = len(y)
    graph = edges.rows * width + edges.cols  # sorted: edges are unique (i, j), i < j
    keys = pair_rows * width + pair_cols
    at = np.minimum(np.searchsorted(graph, keys), max(len(graph) - 1, 0))
    outside = graph[at] != keys if len(graph) else np.ones(len(keys), dtype=np.bool_)
    pair_rows, pair_cols = pair_rows[outside], pair_cols[outside]
    if len(pair_rows) == 0:
        return Certificate(proven=True, missing=Arcs.empty())
    evaluation = evaluate_pairs(problem, pair_rows, pair_cols)
    exact_units = weighting.units(evaluation.scores)
    violated = (
        evaluation.feasible
        & weighting.usable(exact_units)
        & (2 * weighting.weights(exact_units) > y[pair_rows] + y[pair_cols])
    )
    if not violated.any():
        return Certificate(proven=True, missing=Arcs.empty())
    return Certificate(
        proven=False,
        missing=Arcs(pair_rows[violated], pair_cols[violated], evaluation.scores[violated]),
    )
