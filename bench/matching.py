"""Matching benchmark: 10,000 mentees x 2,000 mentors (capacities 1-5), 40 attribute values.

Prints one JSON object. `seconds` is the whole `match()` call for max_score (encode,
score every pair, build the candidate graph, solve, certify, explain), `cpu_seconds`
the CPU time of that call (the machine may be shared); `proven_optimal` says whether
the engine's duality certificate proved the result optimal over every feasible pair.
`exact_objective` is the optimum over every feasible pair, solved independently in the
same run by min-cost flow on the full graph (all ~9 M feasible arcs);
`greedy_objective` is the classic baseline that takes pairs by descending score while
both sides have room. Seeded: the same numbers every run, up to timing.

    .venv/bin/python bench/matching.py [--mentees N] [--mentors M] [--seed S]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

# This script is named like the package it measures, and Python puts the script's folder
# first on sys.path, where bench/matching.py would shadow the real `matching` package.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

from matching.domain.engine import (  # noqa: E402 - must follow the sys.path fix above
    CandidateProfile,
    Constraints,
    MatchPool,
    MatchRequest,
    MatchResult,
    Objective,
    Role,
    SolverOptions,
    match,
)
from matching.domain.engine.encoding import encode  # noqa: E402 - see above
from matching.domain.engine.scoring import evaluate_block  # noqa: E402 - see above

ATTRIBUTES = [f"topic-{k:02d}" for k in range(40)]
LANGUAGES = ["en", "fr", "de", "es", "pt", "ja"]
TIMEZONES = [
    "America/Los_Angeles",
    "America/New_York",
    "America/Sao_Paulo",
    "Europe/London",
    "Europe/Paris",
    "Europe/Berlin",
    "Africa/Nairobi",
    "Asia/Kolkata",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Australia/Sydney",
]
DEPARTMENTS = [f"dept-{k:02d}" for k in range(12)]


def _pick(rng: random.Random, values: list[str], low: int, high: int) -> frozenset[str]:
    # Zipf-like popularity: a few topics are in high demand, as in real programs.
    weights = [1.0 / (rank + 1) ** 0.8 for rank in range(len(values))]
    count = rng.randint(low, high)
    return frozenset(rng.choices(values, weights=weights, k=count))


def build_pool(mentees: int, mentors: int, seed: int) -> MatchPool:
    rng = random.Random(seed)
    directors = [f"director-{k}" for k in range(40)]
    managers = [f"manager-{k}" for k in range(800)]
    lines: dict[str, str | None] = dict.fromkeys(directors)
    lines.update({m: rng.choice(directors) for m in managers})
    mentor_ids = [f"mentor-{k:05d}" for k in range(mentors)]
    candidates = [
        CandidateProfile(
            employee_id=employee,
            role=Role.MENTOR,
            skills_offered=_pick(rng, ATTRIBUTES, 3, 8),
            goals=_pick(rng, ATTRIBUTES, 2, 5),
            interests=_pick(rng, ATTRIBUTES, 2, 5),
            languages=frozenset({"en"} if rng.random() < 0.8 else set())
            | _pick(rng, LANGUAGES, 0, 2),
            timezone=rng.choice(TIMEZONES),
            department=rng.choice(DEPARTMENTS),
            job_level=rng.randint(3, 9),
            manager_id=rng.choice(managers),
            capacity=rng.randint(1, 5),
        )
        for employee in mentor_ids
    ]
    for k in range(mentees):
        # One mentee in five reports to an enrolled mentor: reporting-line exclusions.
        manager = rng.choice(mentor_ids) if rng.random() < 0.2 else rng.choice(managers)
        candidates.append(
            CandidateProfile(
                employee_id=f"mentee-{k:05d}",
                role=Role.MENTEE,
                skills_sought=_pick(rng, ATTRIBUTES, 1, 4),
                goals=_pick(rng, ATTRIBUTES, 1, 3),
                interests=_pick(rng, ATTRIBUTES, 2, 5),
                languages=frozenset({"en"} if rng.random() < 0.8 else set())
                | _pick(rng, LANGUAGES, 1, 2),
                timezone=rng.choice(TIMEZONES),
                department=rng.choice(DEPARTMENTS),
                job_level=rng.randint(1, 6),
                manager_id=manager,
            )
        )
    return MatchPool(candidates=tuple(candidates), reporting_lines=lines)


def greedy_objective(pool: MatchPool, request: MatchRequest) -> float:
    """Take feasible, non-negative pairs by descending score while both sides have room."""
    problem = encode(pool, request)
    rows_parts, cols_parts, score_parts = [], [], []
    block = 1000
    for start in range(0, len(problem.left), block):
        rows = np.arange(start, min(start + block, len(problem.left)), dtype=np.int64)
        evaluation = evaluate_block(problem, rows)
        at_row, at_col = np.nonzero(evaluation.feasible & (evaluation.scores >= 0))
        rows_parts.append(rows[at_row])
        cols_parts.append(at_col)
        score_parts.append(evaluation.scores[at_row, at_col])
    rows_all: npt.NDArray[np.int64] = np.concatenate(rows_parts)
    cols_all = np.concatenate(cols_parts)
    scores_all = np.concatenate(score_parts)
    order = np.lexsort((cols_all, rows_all, -scores_all))
    rows_all, cols_all, scores_all = rows_all[order], cols_all[order], scores_all[order]
    room = problem.right.capacity.copy()
    taken = np.zeros(len(problem.left), dtype=np.bool_)
    total = 0.0
    chunk = 100_000
    for start in range(0, len(order), chunk):
        rows = rows_all[start : start + chunk]
        cols = cols_all[start : start + chunk]
        scores = scores_all[start : start + chunk]
        # Drop pairs already decided before walking the rest one by one, in order.
        alive = np.flatnonzero(~taken[rows] & (room[cols] > 0))
        for k in alive.tolist():
            i, j = int(rows[k]), int(cols[k])
            if not taken[i] and room[j] > 0:
                taken[i] = True
                room[j] -= 1
                total += float(scores[k])
    return total


def timed(pool: MatchPool, request: MatchRequest) -> tuple[MatchResult, float, float]:
    """The result, wall-clock seconds and CPU seconds of this process (the machine is
    shared, so both are reported)."""
    started, cpu = time.perf_counter(), time.process_time()
    result = match(pool, request)
    return result, time.perf_counter() - started, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mentees", type=int, default=10_000)
    parser.add_argument("--mentors", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=20_240_601)
    args = parser.parse_args()
    pool = build_pool(args.mentees, args.mentors, args.seed)
    request = MatchRequest(
        objective=Objective.MAX_SCORE,
        constraints=Constraints(
            exclude_reporting_line=True,
            require_shared_language=True,
            min_timezone_overlap_hours=2.0,
        ),
    )
    match(pool, request)  # warm-up: a service process has its imports and caches loaded
    result, seconds, cpu_seconds = timed(pool, request)
    exact_request = replace(request, solver=SolverOptions(full_graph_arc_limit=10**10))
    exact, exact_seconds, _ = timed(pool, exact_request)
    started = time.perf_counter()
    greedy = greedy_objective(pool, request)
    greedy_seconds = time.perf_counter() - started
    objective = result.metrics.total_score
    exact_objective = exact.metrics.total_score
    print(
        json.dumps(
            {
                "mentees": args.mentees,
                "mentors": args.mentors,
                "mentor_slots": result.metrics.slots_total,
                "attributes": len(ATTRIBUTES),
                "feasible_pairs": result.solver.feasible_pairs,
                "candidate_arcs": result.solver.arcs,
                "graph": result.solver.graph,
                "seconds": round(seconds, 3),
                "cpu_seconds": round(cpu_seconds, 3),
                "proven_optimal": result.solver.exact,
                "objective": round(objective, 6),
                "exact_objective": round(exact_objective, 6),
                "exact_seconds": round(exact_seconds, 3),
                "exact_graph": exact.solver.graph,
                "greedy_objective": round(greedy, 6),
                "greedy_seconds": round(greedy_seconds, 3),
                "objective_ratio": round(objective / exact_objective, 6),
                "greedy_ratio": round(greedy / exact_objective, 6),
                "matched": result.metrics.matched,
                "coverage": round(result.metrics.coverage, 6),
                "algorithm_version": result.algorithm_version,
            }
        )
    )


if __name__ == "__main__":
    main()
