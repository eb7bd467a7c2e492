"""`match(pool, request)`: score, filter, solve and explain one run."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from matching.domain.engine.certificate import certify, certify_peers
from matching.domain.engine.encoding import Problem, encode
from matching.domain.engine.errors import UnsupportedCombinationError
from matching.domain.engine.flow import (
    Transport,
    augmenting_tree,
    solve_max_coverage,
    solve_max_score,
)
from matching.domain.engine.graph import Arcs, Scan, ScanOptions, scan
from matching.domain.engine.metrics import check_breakdown, compute_metrics
from matching.domain.engine.model import (
    ALGORITHM_VERSION,
    Assignment,
    MatchFormat,
    MatchPool,
    MatchRequest,
    MatchResult,
    Objective,
    SolverInfo,
    Unmatched,
    UnmatchedReason,
)
from matching.domain.engine.peer import PeerWeights, solve_peers
from matching.domain.engine.scoring import evaluate_block, evaluate_pairs, exclusions, explain
from matching.domain.engine.stable import deferred_acceptance

if TYPE_CHECKING:
    from collections.abc import Callable

Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

# Column-generation rounds before giving up on a proof (a handful suffice in practice).
_CERTIFICATE_ROUNDS = 20


def match(pool: MatchPool, request: MatchRequest) -> MatchResult:
    """Propose pairs for `pool` as `request` asks. Same input, same output."""
    problem = encode(pool, request)
    check_breakdown(request.breakdown_by, problem.left.profiles)
    if problem.peer:
        if request.objective is Objective.STABLE:
            raise UnsupportedCombinationError(
                "objective",
                "stable matching is not offered for the peer format: a stable pairing of "
                "a single pool (stable roommates) may not exist",
            )
        return _match_peers(problem)
    return _match_bipartite(problem)


def _score_bound(problem: Problem) -> float:
    """No score can exceed this in magnitude: every factor value lies in [0, 1]."""
    return sum(abs(w) for w in problem.weights.values())


def _match_bipartite(problem: Problem) -> MatchResult:
    request, options = problem.request, problem.request.solver
    capacity = problem.right.capacity
    objective = request.objective
    stable = objective is Objective.STABLE
    result = scan(
        problem,
        ScanOptions(
            mentee_candidates=0 if stable else options.mentee_candidates,
            mentor_candidates=(
                np.zeros_like(capacity)
                if stable
                else options.mentor_candidates_per_slot * capacity + options.mentor_candidates_extra
            ),
            full_limit=-1 if stable else options.full_graph_arc_limit,
            eligible_floor=0.0 if objective is Objective.MAX_SCORE else None,
            preferences=stable,
        ),
    )
    if stable and result.preferences is not None:
        mentor_of = deferred_acceptance(result.preferences, capacity)
        info = SolverInfo(
            method="deferred_acceptance",
            graph="full",
            arcs=len(result.preferences.cols),
            feasible_pairs=result.feasible_pairs,
            exact=True,
        )
    else:
        mentor_of, info = _solve_flow(problem, result)
    return _bipartite_result(problem, result, mentor_of, info)


def _solve_flow(problem: Problem, result: Scan) -> tuple[Ints, SolverInfo]:
    coverage = problem.request.objective is Objective.MAX_COVERAGE
    solve: Callable[[Transport], Ints] = solve_max_coverage if coverage else solve_max_score
    arcs = result.full if result.full is not None else result.candidates

    def transport(on: Arcs) -> Transport:
        return Transport(
            mentees=len(problem.left),
            capacity=problem.right.capacity,
            rows=on.rows,
            cols=on.cols,
            scores=on.scores,
            score_bound=_score_bound(problem),
        )

    mentor_of = solve(transport(arcs))
    proven = result.full is not None
    if not proven:
        if coverage:
            # Augmenting paths over every feasible pair, until none is left: maximum
            # cardinality is then proven whatever the certificate below concludes.
            tree = _augmenting_arcs(problem, result.feasible, mentor_of)
            while tree is not None:
                arcs = Arcs.union([arcs, tree], len(problem.right))
                mentor_of = solve(transport(arcs))
                tree = _augmenting_arcs(problem, result.feasible, mentor_of)
        for _ in range(_CERTIFICATE_ROUNDS):
            certificate = certify(problem, result, transport(arcs), mentor_of, coverage=coverage)
            if certificate.proven or len(certificate.missing) == 0:
                proven = certificate.proven
                break
            arcs = Arcs.union([arcs, certificate.missing], len(problem.right))
            mentor_of = solve(transport(arcs))
    method = "min_cost_flow/max_flow_min_cost" if coverage else "min_cost_flow"
    return mentor_of, SolverInfo(
        method=method,
        graph="full" if result.full is not None else "candidates",
        arcs=len(arcs),
        feasible_pairs=result.feasible_pairs,
        exact=proven,
    )


def _augmenting_arcs(problem: Problem, feasible: Bools, mentor_of: Ints) -> Arcs | None:
    tree = augmenting_tree(feasible, mentor_of, problem.right.capacity)
    if tree is None:
        return None
    rows, cols = tree
    return Arcs(rows, cols, evaluate_pairs(problem, rows, cols).scores)


def _bipartite_result(
    problem: Problem, result: Scan, mentor_of: Ints, info: SolverInfo
) -> MatchResult:
    request = problem.request
    left, right = problem.left, problem.right
    rows = np.flatnonzero(mentor_of >= 0)
    cols = mentor_of[rows]
    group = request.format is MatchFormat.GROUP
    assignments = tuple(
        Assignment(
            mentor_id=right.ids[j],
            mentee_id=left.ids[i],
            score=score,
            explanation=explanation,
            group_id=right.ids[j] if group else None,
        )
        for i, j, (score, explanation) in zip(
            rows.tolist(), cols.tolist(), explain(problem, rows, cols), strict=True
        )
    )
    spare = np.bincount(cols, minlength=len(right)) < right.capacity
    unmatched = _unmatched(
        problem,
        np.flatnonzero(mentor_of < 0),
        result.feasible,
        spare,
        nobody=UnmatchedReason.NO_FEASIBLE_MENTOR,
        partner="mentor",
    )
    return _result(problem, assignments, unmatched, info, slots_total=int(right.capacity.sum()))


def _match_peers(problem: Problem) -> MatchResult:
    options = problem.request.solver
    coverage = problem.request.objective is Objective.MAX_COVERAGE
    peers = len(problem.left)
    result = scan(
        problem,
        ScanOptions(
            mentee_candidates=options.peer_candidates,
            mentor_candidates=np.zeros(peers, dtype=np.int64),
            full_limit=2 * options.peer_edge_limit,
            eligible_floor=None if coverage else 0.0,
            preferences=False,
        ),
    )
    arcs = result.full if result.full is not None else result.candidates
    low, high = np.minimum(arcs.rows, arcs.cols), np.maximum(arcs.rows, arcs.cols)
    edges = Arcs.union([Arcs(low, high, arcs.scores)], peers)
    weighting = PeerWeights(peers=peers, score_bound=_score_bound(problem), coverage=coverage)
    solution = solve_peers(edges.rows, edges.cols, edges.scores, weighting)
    proven = result.full is not None
    if not proven:
        for _ in range(_CERTIFICATE_ROUNDS):
            certificate = certify_peers(problem, result, edges, solution, weighting)
            if certificate.proven or len(certificate.missing) == 0:
                proven = certificate.proven
                break
            if len(edges) + len(certificate.missing) > options.peer_certificate_edge_limit:
                break  # the blossom algorithm's cost grows with the edges: stay bounded
            edges = Arcs.union([edges, certificate.missing], peers)
            solution = solve_peers(edges.rows, edges.cols, edges.scores, weighting)
    mate = solution.mate
    rows = np.flatnonzero((mate >= 0) & (np.arange(peers) < mate))
    cols = mate[rows]
    ids = problem.left.ids
    assignments = tuple(
        Assignment(mentor_id=ids[i], mentee_id=ids[j], score=score, explanation=explanation)
        for i, j, (score, explanation) in zip(
            rows.tolist(), cols.tolist(), explain(problem, rows, cols), strict=True
        )
    )
    unmatched = _unmatched(
        problem,
        np.flatnonzero(mate < 0),
        result.feasible,
        mate < 0,
        nobody=UnmatchedReason.NO_FEASIBLE_PEER,
        partner="peer",
    )
    info = SolverInfo(
        method="blossom",
        graph="full" if result.full is not None else "candidates",
        arcs=len(edges),
        feasible_pairs=result.feasible_pairs // 2,
        exact=proven,
    )
    return _result(problem, assignments, unmatched, info, slots_total=peers)


def _unmatched(
    problem: Problem,
    rows: Ints,
    feasible: Bools,
    spare: Bools,
    *,
    nobody: UnmatchedReason,
    partner: str,
) -> tuple[Unmatched, ...]:
    """Why each of `rows` has no pair; `spare` marks partners with a free slot."""
    ids = problem.left.ids
    reachable = feasible[rows]
    options = reachable.sum(axis=1)
    with_spare: Bools = np.asarray((reachable & spare[None, :]).any(axis=1))
    alone = rows[options == 0]
    excluded = dict(zip(alone.tolist(), exclusions(problem, alone), strict=True))
    best_spare = _best_spare_scores(problem, rows[with_spare], spare)
    reasons = []
    for k, i in enumerate(rows.tolist()):
        if options[k] == 0:
            counts = tuple(excluded[i])
            detail = ", ".join(f"{name} rules out {count}" for name, count in counts)
            reasons.append(
                Unmatched(
                    ids[i], nobody, f"no feasible {partner}: {detail or 'empty pool'}", counts
                )
            )
        elif not with_spare[k]:
            reasons.append(
                Unmatched(
                    ids[i],
                    UnmatchedReason.CAPACITY_EXHAUSTED,
                    f"all {int(options[k])} feasible {partner}s are taken",
                )
            )
        elif problem.request.objective is Objective.MAX_SCORE and best_spare[i] < 0.0:
            reasons.append(
                Unmatched(
                    ids[i],
                    UnmatchedReason.SCORE_NOT_POSITIVE,
                    f"every available feasible {partner} scores below zero "
                    f"(best {best_spare[i]:.4f}); pairing would lower the total",
                )
            )
        else:
            reasons.append(
                Unmatched(
                    ids[i],
                    UnmatchedReason.NOT_SELECTED,
                    f"a feasible {partner} is available but the solver's time limit "
                    "or candidate graph left this one out",
                )
            )
    return tuple(reasons)


def _best_spare_scores(problem: Problem, rows: Ints, spare: Bools) -> dict[int, float]:
    if len(rows) == 0:
        return {}
    evaluation = evaluate_block(problem, rows)
    usable = evaluation.feasible & spare[None, :]
    best = np.where(usable, evaluation.scores, -np.inf).max(axis=1)
    return dict(zip(rows.tolist(), best.tolist(), strict=True))


def _result(
    problem: Problem,
    assignments: tuple[Assignment, ...],
    unmatched: tuple[Unmatched, ...],
    info: SolverInfo,
    *,
    slots_total: int,
) -> MatchResult:
    request = problem.request
    return MatchResult(
        algorithm_version=ALGORITHM_VERSION,
        objective=request.objective,
        format=request.format,
        weights=dict(problem.weights),
        must_have=problem.must_have,
        assignments=assignments,
        unmatched=unmatched,
        metrics=compute_metrics(
            problem.left.profiles,
            assignments,
            peer=problem.peer,
            slots_total=slots_total,
            breakdown_by=request.breakdown_by,
        ),
        solver=info,
    )
