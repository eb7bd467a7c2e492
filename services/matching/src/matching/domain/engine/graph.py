"""One pass over every mentee x mentor pair, block by block, keeping what solvers need.

Blocks of mentees are scored while they fit in cache, and from each block we keep the
feasibility mask, the arcs of the candidate graph (each mentee's best mentors and each
mentor's best mentees), every feasible arc while their number stays under the full-graph
limit, and — for deferred acceptance — each mentee's complete preference list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from matching.domain.engine.scoring import evaluate_block

if TYPE_CHECKING:
    from matching.domain.engine.encoding import Problem

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

# About 256 k cells (2 MB of float64) per block: large enough for BLAS and for numpy's
# per-call overhead to vanish, small enough that a block's temporaries stay in cache.
_BLOCK_CELLS = 262_144


@dataclass(frozen=True, slots=True)
class Arcs:
    """Mentee -> mentor arcs with their scores, sorted by (mentee, mentor), unique."""

    rows: Ints
    cols: Ints
    scores: Floats

    @classmethod
    def empty(cls) -> Arcs:
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64))

    @classmethod
    def union(cls, parts: list[Arcs], width: int) -> Arcs:
        if not parts:
            return cls.empty()
        rows = np.concatenate([p.rows for p in parts])
        cols = np.concatenate([p.cols for p in parts])
        scores = np.concatenate([p.scores for p in parts])
        _, first = np.unique(rows * max(width, 1) + cols, return_index=True)
        return cls(rows[first], cols[first], scores[first])

    def __len__(self) -> int:
        return len(self.rows)


@dataclass(frozen=True, slots=True)
class Preferences:
    """Each mentee's feasible mentors, best first (ties: lower mentor index first).

    Mentee i's list is ``cols[indptr[i]:indptr[i + 1]]`` with scores alongside.
    """

    indptr: Ints
    cols: Ints
    scores: Floats


@dataclass(frozen=True, slots=True)
class Scan:
    """What the pass kept.

    Every eligible arc outside `candidates` scores at most
    ``min(row_bound[mentee], col_bound[mentor])`` (its mentee's k-th best and its
    mentor's C-th best); -inf means all of that mentee's (mentor's) eligible arcs are
    candidates, +inf that nothing is known.
    """

    feasible: Bools
    feasible_pairs: int
    candidates: Arcs
    row_bound: Floats
    col_bound: Floats
    full: Arcs | None
    preferences: Preferences | None


@dataclass(frozen=True, slots=True)
class ScanOptions:
    """What to keep. `eligible_floor` drops arcs scoring below it (max_score: 0)."""

    mentee_candidates: int
    mentor_candidates: Ints
    full_limit: int
    eligible_floor: float | None
    preferences: bool


def scan(problem: Problem, options: ScanOptions) -> Scan:
    n, m = len(problem.left), len(problem.right)
    feasible = np.zeros((n, m), dtype=np.bool_)
    block = max(1, _BLOCK_CELLS // max(m, 1))
    top_rows = _ColumnLeaders(options.mentor_candidates)
    candidate_parts: list[Arcs] = []
    row_bounds: list[Floats] = []
    full_parts: list[Arcs] | None = []
    full_count = 0
    pref_cols: list[Ints] = []
    pref_scores: list[Floats] = []
    pref_counts: list[Ints] = []
    for start in range(0, n, block):
        rows = np.arange(start, min(start + block, n), dtype=np.int64)
        evaluation = evaluate_block(problem, rows)
        mask = evaluation.feasible
        feasible[rows] = mask
        eligible = mask
        if options.eligible_floor is not None:
            eligible = mask & (evaluation.scores >= options.eligible_floor)
        masked = np.where(eligible, evaluation.scores, -np.inf)
        leaders, bound = _row_leaders(rows, masked, options.mentee_candidates)
        candidate_parts.append(leaders)
        row_bounds.append(bound)
        top_rows.offer(rows, masked)
        if full_parts is not None:
            full_count += int(eligible.sum())
            if full_count > options.full_limit:
                full_parts = None
            else:
                at_row, at_col = np.nonzero(eligible)
                full_parts.append(
                    Arcs(rows[at_row], at_col.astype(np.int64), evaluation.scores[at_row, at_col])
                )
        if options.preferences:
            order = np.argsort(-masked, axis=1, kind="stable")
            ordered_ok = np.take_along_axis(eligible, order, axis=1)
            at_row, at_pos = np.nonzero(ordered_ok)
            chosen = order[at_row, at_pos]
            pref_cols.append(chosen.astype(np.int64))
            pref_scores.append(evaluation.scores[at_row, chosen])
            pref_counts.append(ordered_ok.sum(axis=1).astype(np.int64))
    candidate_parts.append(top_rows.arcs())
    preferences = None
    if options.preferences:
        counts = np.concatenate(pref_counts) if pref_counts else np.zeros(0, np.int64)
        preferences = Preferences(
            indptr=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            cols=np.concatenate(pref_cols) if pref_cols else np.zeros(0, np.int64),
            scores=np.concatenate(pref_scores) if pref_scores else np.zeros(0, np.float64),
        )
    return Scan(
        feasible=feasible,
        feasible_pairs=int(feasible.sum()),
        candidates=Arcs.union(candidate_parts, m),
        row_bound=np.concatenate(row_bounds) if row_bounds else np.zeros(0, np.float64),
        col_bound=top_rows.bound(),
        full=Arcs.union(full_parts, m) if full_parts is not None else None,
        preferences=preferences,
    )


def _row_leaders(rows: Ints, masked: Floats, k: int) -> tuple[Arcs, Floats]:
    """Each row's k best finite entries, and the k-th best score (the bound on the rest)."""
    width = masked.shape[1]
    if k <= 0:
        return Arcs.empty(), np.full(len(rows), np.inf)
    if k >= width:
        cols = np.broadcast_to(np.arange(width), masked.shape)
        bound = np.full(len(rows), -np.inf)
    else:
        cols = np.argpartition(-masked, k - 1, axis=1)[:, :k]
        # The k-th best; -inf (everything eligible kept) when fewer than k are finite.
        bound = np.take_along_axis(masked, cols, axis=1).min(axis=1)
    scores = np.take_along_axis(masked, cols, axis=1)
    keep = np.isfinite(scores)
    at_row = np.nonzero(keep)[0]
    return Arcs(rows[at_row], cols[keep].astype(np.int64), scores[keep]), bound


class _ColumnLeaders:
    """Running best `limit[j]` rows of each column j across blocks.

    A column's threshold is its `limit`-th best score at the last pruning; only entries
    above it are collected, so after the first blocks little is copied, and pruning
    (a sort) runs only when enough has piled up. Ties keep the lower-index mentee.
    """

    _PRUNE_AT = 65_536

    def __init__(self, limit: Ints) -> None:
        self._limit = limit
        self._threshold = np.where(limit > 0, -np.inf, np.inf)
        self._kept = Arcs.empty()
        self._pending: list[Arcs] = []
        self._pending_count = 0

    def offer(self, rows: Ints, masked: Floats) -> None:
        at_row, at_col = np.nonzero(masked > self._threshold[None, :])
        if len(at_row) == 0:
            return
        self._pending.append(Arcs(rows[at_row], at_col.astype(np.int64), masked[at_row, at_col]))
        self._pending_count += len(at_row)
        if self._pending_count > max(self._PRUNE_AT, len(self._kept)):
            self._prune()

    def _prune(self) -> None:
        parts = [self._kept, *self._pending]
        rows = np.concatenate([p.rows for p in parts])
        cols = np.concatenate([p.cols for p in parts])
        scores = np.concatenate([p.scores for p in parts])
        self._pending, self._pending_count = [], 0
        order = np.lexsort((rows, -scores, cols))
        grouped = cols[order]
        rank = np.arange(len(order)) - np.searchsorted(grouped, grouped, side="left")
        keep = order[rank < self._limit[grouped]]
        self._kept = Arcs(rows[keep], cols[keep], scores[keep])
        full = rank == self._limit[grouped] - 1
        self._threshold[grouped[full]] = scores[order[full]]

    def arcs(self) -> Arcs:
        if self._pending:
            self._prune()
        return self._kept

    def bound(self) -> Floats:
        """Per column, no entry left out scores above this (see `Scan`)."""
        if self._pending:
            self._prune()
        return self._threshold.copy()
