"""Peer format: one pool, so a maximum-weight matching in a general graph.

Peers are not two sides of a market: the assignment polytope is no longer integral (odd
cycles) and a flow cannot be used. Edmonds' blossom algorithm (`blossom`) solves the
problem exactly on integer weights:

- max_score: weight = score units x (peers + 1) + 1 on edges scoring at least zero, so
  the total score is maximal and, among equal totals, the number of pairs;
- max_coverage: weight = a bonus larger than any total score difference + score units,
  so the number of pairs is maximal first, then the total score.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from matching.domain.engine.blossom import max_weight_matching

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

_RESOLUTION = 10**9


@dataclass(frozen=True, slots=True)
class PeerSolution:
    """Partner per peer (-1: none) and the vertex duals, doubled (see `blossom`)."""

    mate: Ints
    duals: Ints


@dataclass(frozen=True, slots=True)
class PeerWeights:
    """Scores to the integer weights the blossom algorithm maximises."""

    peers: int
    score_bound: float
    coverage: bool

    def units(self, scores: Floats) -> Ints:
        return np.rint(scores * (_RESOLUTION / max(self.score_bound, 1e-12))).astype(np.int64)

    def usable(self, units: Ints) -> Bools:
        return np.ones(len(units), dtype=np.bool_) if self.coverage else units >= 0

    def weights(self, units: Ints) -> Ints:
        if self.coverage:
            # One more pair outweighs any possible difference in total score.
            bonus = (self.peers // 2 + 1) * 2 * _RESOLUTION + 1
            return units + bonus
        # Tie-break: more pairs among equal totals, worth less than one score unit.
        weights: Ints = units * (self.peers + 1) + 1
        return weights


def solve_peers(rows: Ints, cols: Ints, scores: Floats, weighting: PeerWeights) -> PeerSolution:
    """Edges are (rows[k], cols[k]) with rows[k] < cols[k]."""
    units = weighting.units(scores)
    usable = np.flatnonzero(weighting.usable(units))
    weights = weighting.weights(units)
    edges = [(int(rows[k]), int(cols[k]), int(weights[k])) for k in usable.tolist()]
    mate, duals = max_weight_matching(weighting.peers, edges)
    return PeerSolution(np.asarray(mate, dtype=np.int64), np.asarray(duals, dtype=np.int64))
