"""Property tests: the engine against an independent, plain-Python reference.

The reference re-derives every factor and hard constraint pair by pair (sets, minute-by-
minute timezone overlap, walking the manager chain) and solves small instances exactly
by other means (SciPy's assignment and bipartite-matching routines on the
capacity-expanded graph, brute force for peers). Hypothesis draws random small pools
and requests; the candidate-graph path is exercised too by forcing tiny limits.
"""

from __future__ import annotations

import functools
import itertools
import random
from dataclasses import dataclass, replace
from typing import TypeVar

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linear_sum_assignment
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_bipartite_matching

from matching.domain.engine import (
    CandidateProfile,
    Constraints,
    DepartmentPreference,
    MatchFormat,
    MatchPool,
    MatchRequest,
    MatchResult,
    Objective,
    Role,
    SolverOptions,
    UnmatchedReason,
    match,
)

SKILLS = ["python", "sql", "design", "sales"]
GOALS = ["lead", "grow", "switch"]
INTERESTS = ["chess", "music", "hiking"]
LANGUAGES = ["en", "fr", "de"]
ZONES: list[str | float] = [0, 1, -5, 5.5, "Europe/Paris", "America/New_York", "UTC+9"]
ZONE_HOURS = {"Europe/Paris": 1.0, "America/New_York": -5.0, "UTC+9": 9.0}
FACTORS = ("skills", "goals", "interests", "languages", "timezone", "department", "seniority")
DEFAULT_GAP = {
    MatchFormat.ONE_TO_ONE: (1, 3),
    MatchFormat.GROUP: (1, 3),
    MatchFormat.REVERSE: (1, 3),
    MatchFormat.PEER: (0, 1),
}
TOLERANCE = 1e-9
# Candidate graphs far too small to hold the optimum: repairs and the optimality
# certificate must make up for it.
TINY_GRAPH = SolverOptions(
    full_graph_arc_limit=0,
    mentee_candidates=1,
    mentor_candidates_per_slot=0,
    mentor_candidates_extra=0,
    peer_edge_limit=0,
    peer_candidates=1,
)
T = TypeVar("T")


def subsets(values: list[str]) -> st.SearchStrategy[frozenset[str]]:
    return st.frozensets(st.sampled_from(values), max_size=len(values))


def mostly(common: T, *rare: T) -> st.SearchStrategy[T]:
    """`common` three times in four, else one of `rare`: keeps instances matchable."""
    return st.one_of(st.just(common), st.just(common), st.just(common), st.sampled_from(rare))


@st.composite
def pools(draw: st.DrawFn) -> MatchPool:
    mentees = draw(st.integers(0, 8))
    mentors = draw(st.integers(0, 5))
    people = [f"e{k}" for k in range(mentees)] + [f"m{k}" for k in range(mentors)]
    # Directory-only managers make skip levels that no candidate carries.
    outsiders = ["boss", "vp", "lead"]
    candidates = []
    capacity: int | None = 2
    for employee in people:
        nobody: str | None = None
        manager = draw(mostly(nobody, *outsiders, *people))
        spoken = draw(mostly(frozenset({"en"}), frozenset[str](), frozenset({"fr", "de"})))
        candidates.append(
            CandidateProfile(
                employee_id=employee,
                role=Role.MENTEE if employee.startswith("e") else Role.MENTOR,
                skills_offered=draw(subsets(SKILLS)),
                skills_sought=draw(subsets(SKILLS)),
                goals=draw(subsets(GOALS)),
                interests=draw(subsets(INTERESTS)),
                languages=spoken | draw(subsets(LANGUAGES)),
                timezone=draw(st.sampled_from(ZONES)),
                department=draw(st.sampled_from([None, "eng", "ops", "hr"])),
                job_level=draw(st.integers(1, 7)),
                manager_id=manager if manager != employee else None,
                capacity=draw(st.one_of(st.integers(1, 3), mostly(capacity, None, 0))),
            )
        )
    lines = {"boss": "vp", "vp": None, "lead": "boss"}
    return MatchPool(candidates=tuple(candidates), reporting_lines=lines)


@st.composite
def requests(draw: st.DrawFn, pool: MatchPool) -> MatchRequest:
    ids = [c.employee_id for c in pool.candidates]
    pairs = st.lists(st.tuples(st.sampled_from(ids), st.sampled_from(ids)), max_size=3)
    weight = st.one_of(st.just(0.0), st.floats(-2, 5, allow_nan=False).map(lambda w: round(w, 3)))
    low = draw(st.integers(-1, 2))
    no_minimum: float | None = None
    return MatchRequest(
        objective=draw(st.sampled_from(list(Objective))),
        format=draw(st.sampled_from(list(MatchFormat))),
        weights=draw(st.dictionaries(st.sampled_from(FACTORS), weight, max_size=3)),
        constraints=Constraints(
            exclude_reporting_line=draw(st.booleans()),
            min_timezone_overlap_hours=draw(mostly(no_minimum, 0.0, 2.0, 4.5, 8.0)),
            require_shared_language=draw(st.booleans()),
            must_have=draw(mostly(frozenset[str](), *(frozenset({f}) for f in FACTORS))),
            blocked_pairs=tuple(draw(pairs)) if ids else (),
            previous_pairs=tuple(draw(pairs)) if ids else (),
        ),
        department_preference=draw(st.sampled_from(list(DepartmentPreference))),
        seniority_gap=draw(st.one_of(st.none(), st.just((low, low + draw(st.integers(0, 3)))))),
        seniority_tolerance=draw(st.integers(0, 2)),
        group_size=draw(st.integers(1, 3)),
        default_capacity=draw(mostly(1, 0, 2)),
        solver=draw(st.sampled_from([SolverOptions(), TINY_GRAPH])),
    )


# ---------------------------------------------------------------- the reference model


@functools.cache
def overlap_hours(zone_a: str | float, zone_b: str | float, hours: tuple[float, float]) -> float:
    """Minute by minute over one UTC day: both in their local working hours."""
    start, end = (int(h * 60) for h in hours)

    def offset(zone: str | float) -> int:
        return round((ZONE_HOURS[zone] if isinstance(zone, str) else zone) * 60)

    both = 0
    for minute in range(24 * 60):
        local_a = (minute + offset(zone_a)) % (24 * 60)
        local_b = (minute + offset(zone_b)) % (24 * 60)
        both += start <= local_a < end and start <= local_b < end
    return both / 60


@dataclass(frozen=True)
class Reference:
    pool: MatchPool
    request: MatchRequest

    @property
    def peer(self) -> bool:
        return self.request.format is MatchFormat.PEER

    def mentees(self) -> list[CandidateProfile]:
        ordered = sorted(self.pool.candidates, key=lambda c: c.employee_id)
        return ordered if self.peer else [c for c in ordered if c.role is Role.MENTEE]

    def mentors(self) -> list[CandidateProfile]:
        ordered = sorted(self.pool.candidates, key=lambda c: c.employee_id)
        return ordered if self.peer else [c for c in ordered if c.role is Role.MENTOR]

    def capacity(self, mentor: CandidateProfile) -> int:
        if self.peer:
            return 1
        own = mentor.capacity if mentor.capacity is not None else self.request.default_capacity
        if self.request.format is MatchFormat.GROUP:
            return self.request.group_size if own > 0 else 0
        return own

    def manager(self, employee: str | None) -> str | None:
        if employee is None:
            return None
        for candidate in self.pool.candidates:
            if candidate.employee_id == employee:
                return candidate.manager_id
        return self.pool.reporting_lines.get(employee)

    def values(self, a: CandidateProfile, b: CandidateProfile) -> dict[str, float]:
        """Factor values of mentee (or peer) a with mentor (or peer) b."""

        def share(mine: frozenset[str], theirs: frozenset[str]) -> float:
            return len(mine & theirs) / len(mine) if mine else 0.0

        skills = share(a.skills_sought, b.skills_offered)
        goals = share(a.goals, b.goals)
        if self.peer:
            skills = (skills + share(b.skills_sought, a.skills_offered)) / 2
            goals = (goals + share(b.goals, a.goals)) / 2
        union = a.interests | b.interests
        same = a.department is not None and a.department == b.department
        known = a.department is not None and b.department is not None
        if self.request.department_preference is DepartmentPreference.SAME:
            department = 1.0 if same else 0.0
        else:
            department = 1.0 if known and not same else 0.0
        gap = b.job_level - a.job_level
        if self.request.format is MatchFormat.REVERSE:
            gap = -gap
        elif self.peer:
            gap = abs(gap)
        low, high = self.request.seniority_gap or DEFAULT_GAP[self.request.format]
        distance = max(low - gap, 0, gap - high)
        start, end = self.request.working_hours
        return {
            "skills": skills,
            "goals": goals,
            "interests": len(a.interests & b.interests) / len(union) if union else 0.0,
            "languages": 1.0 if a.languages & b.languages else 0.0,
            "timezone": self.overlap_hours(a, b) / (end - start),
            "department": department,
            "seniority": max(0.0, 1 - distance / (self.request.seniority_tolerance + 1)),
        }

    def overlap_hours(self, a: CandidateProfile, b: CandidateProfile) -> float:
        return overlap_hours(a.timezone, b.timezone, self.request.working_hours)

    def weights(self) -> dict[str, float]:
        defaults = dict.fromkeys(FACTORS, 1.0) | {"skills": 3.0, "goals": 2.0, "department": 0.5}
        return defaults | dict(self.request.weights)

    def score(self, a: CandidateProfile, b: CandidateProfile) -> float:
        weights = self.weights()
        return sum(weights[f] * v for f, v in self.values(a, b).items())

    def feasible(self, a: CandidateProfile, b: CandidateProfile) -> bool:  # noqa: PLR0911 - a return per rule
        constraints = self.request.constraints
        if a.employee_id == b.employee_id or self.capacity(b) <= 0:
            return False
        if constraints.exclude_reporting_line:
            x, y = a.employee_id, b.employee_id
            mx, my = self.manager(x), self.manager(y)
            if y in (mx, self.manager(mx)) or x in (my, self.manager(my)):
                return False
            if mx is not None and mx == my:
                return False
        if constraints.require_shared_language and not a.languages & b.languages:
            return False
        minimum = constraints.min_timezone_overlap_hours
        if minimum is not None and self.overlap_hours(a, b) < minimum:
            return False
        values = self.values(a, b)
        if any(values[f] <= 0 for f in constraints.must_have):
            return False
        pair = {a.employee_id, b.employee_id}
        forbidden = [*constraints.blocked_pairs, *constraints.previous_pairs]
        return all(pair != {x, y} for x, y in forbidden)


def expanded(ref: Reference) -> tuple[list[int], list[CandidateProfile]]:
    """Mentor slots: mentor j repeated capacity(j) times."""
    slots = [j for j, mentor in enumerate(ref.mentors()) for _ in range(ref.capacity(mentor))]
    return slots, ref.mentors()


def exact_bipartite(ref: Reference, *, coverage: bool) -> tuple[int, float]:
    """(pairs, total score) of the optimum, by linear_sum_assignment on the slot matrix.

    Each mentee may also take a private dummy column worth 0 (staying unmatched). For
    coverage every feasible pair earns a bonus larger than any score difference.
    """
    mentees, (slots, mentors) = ref.mentees(), expanded(ref)
    if not mentees:
        return 0, 0.0
    bonus = 1e4 if coverage else 0.0
    value = np.full((len(mentees), len(slots) + len(mentees)), -1e9)
    value[:, len(slots) :] = -1e9
    np.fill_diagonal(value[:, len(slots) :], 0.0)
    for i, mentee in enumerate(mentees):
        for s, j in enumerate(slots):
            if ref.feasible(mentee, mentors[j]):
                value[i, s] = bonus + ref.score(mentee, mentors[j])
    rows, cols = linear_sum_assignment(value, maximize=True)
    chosen = [(i, s) for i, s in zip(rows, cols, strict=True) if s < len(slots)]
    chosen = [(i, s) for i, s in chosen if value[i, s] > -1e8]
    return len(chosen), sum(value[i, s] - bonus for i, s in chosen)


def max_cardinality(ref: Reference) -> int:
    mentees, (slots, mentors) = ref.mentees(), expanded(ref)
    if not mentees or not slots:
        return 0
    edges = np.array([[ref.feasible(e, mentors[j]) for j in slots] for e in mentees], dtype=np.int8)
    matching = maximum_bipartite_matching(csr_matrix(edges), perm_type="column")
    return int((matching >= 0).sum())


def exact_peers(ref: Reference, *, coverage: bool) -> tuple[int, float]:
    """Brute force over every matching of a small pool."""
    peers = ref.mentees()
    edge = {
        (i, j): ref.score(peers[i], peers[j])
        for i, j in itertools.combinations(range(len(peers)), 2)
        if ref.feasible(peers[i], peers[j])
    }

    def best(free: tuple[int, ...]) -> tuple[int, float]:
        if not free:
            return 0, 0.0
        first, rest = free[0], free[1:]
        options = [best(rest)]
        for k, other in enumerate(rest):
            if (first, other) in edge:
                pairs, total = best(rest[:k] + rest[k + 1 :])
                options.append((pairs + 1, total + edge[first, other]))
        if coverage:
            return max(options, key=lambda o: (o[0], o[1]))
        return max(options, key=lambda o: o[1])

    return best(tuple(range(len(peers))))


# ---------------------------------------------------------------------- the properties


def by_id(pool: MatchPool) -> dict[str, CandidateProfile]:
    return {c.employee_id: c for c in pool.candidates}


def check_hard_constraints(ref: Reference, result: MatchResult) -> None:
    people = by_id(ref.pool)
    mentees = {m.employee_id for m in ref.mentees()}
    seen: list[str] = []
    load: dict[str, int] = {}
    for a in result.assignments:
        mentor, mentee = people[a.mentor_id], people[a.mentee_id]
        assert mentee.employee_id in mentees
        assert ref.feasible(mentee, mentor), a
        seen.append(a.mentee_id)
        if ref.peer:
            seen.append(a.mentor_id)
            assert a.mentor_id < a.mentee_id
        load[a.mentor_id] = load.get(a.mentor_id, 0) + 1
    assert len(seen) == len(set(seen)), "someone was paired twice"
    for mentor_id, count in load.items():
        assert count <= ref.capacity(people[mentor_id])


def check_explanations(ref: Reference, result: MatchResult) -> None:
    people = by_id(ref.pool)
    for a in result.assignments:
        assert [c.factor for c in a.explanation] == list(FACTORS)
        assert abs(sum(c.contribution for c in a.explanation) - a.score) <= TOLERANCE
        expected = ref.values(people[a.mentee_id], people[a.mentor_id])
        if ref.peer:  # the reference reads peers as (smaller id, larger id) too
            expected = ref.values(people[a.mentor_id], people[a.mentee_id])
        for line in a.explanation:
            assert line.weight == ref.weights()[line.factor]
            assert line.value == pytest.approx(expected[line.factor], abs=TOLERANCE)
            assert line.contribution == line.weight * line.value


def check_unmatched(ref: Reference, result: MatchResult) -> None:
    people = by_id(ref.pool)
    matched = {a.mentee_id for a in result.assignments}
    if ref.peer:
        matched |= {a.mentor_id for a in result.assignments}
    listed = {u.employee_id: u for u in result.unmatched}
    assert set(listed) == {m.employee_id for m in ref.mentees()} - matched
    for employee, unmatched in listed.items():
        partners = [p for p in ref.mentors() if ref.feasible(people[employee], p)]
        nobody = unmatched.reason in {
            UnmatchedReason.NO_FEASIBLE_MENTOR,
            UnmatchedReason.NO_FEASIBLE_PEER,
        }
        assert nobody == (not partners), unmatched


def check_stable(ref: Reference, result: MatchResult) -> None:
    mentees, mentors = ref.mentees(), ref.mentors()
    partner = {a.mentee_id: a.mentor_id for a in result.assignments}
    held: dict[str, list[str]] = {}
    for a in result.assignments:
        held.setdefault(a.mentor_id, []).append(a.mentee_id)
    people = by_id(ref.pool)
    for e in mentees:
        for r in mentors:
            if not ref.feasible(e, r) or partner.get(e.employee_id) == r.employee_id:
                continue
            mine = ref.score(e, r)
            current = partner.get(e.employee_id)
            mentee_wants = current is None or mine > ref.score(e, people[current]) + TOLERANCE
            holders = held.get(r.employee_id, [])
            mentor_wants = len(holders) < ref.capacity(r) or any(
                mine > ref.score(people[h], r) + TOLERANCE for h in holders
            )
            assert not (mentee_wants and mentor_wants), (e.employee_id, r.employee_id)


@st.composite
def instances(draw: st.DrawFn) -> tuple[MatchPool, MatchRequest]:
    pool = draw(pools())
    return pool, draw(requests(pool))


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(instances())
def test_engine_agrees_with_the_reference(instance: tuple[MatchPool, MatchRequest]) -> None:
    pool, request = instance
    if request.format is MatchFormat.PEER and request.objective is Objective.STABLE:
        request = replace(request, objective=Objective.MAX_SCORE)
    ref = Reference(pool, request)

    result = match(pool, request)

    check_hard_constraints(ref, result)
    check_explanations(ref, result)
    check_unmatched(ref, result)
    total = sum(a.score for a in result.assignments)
    pairs = len(result.assignments)
    tolerance = 1e-6 * (1 + len(ref.mentees()))
    if ref.peer:
        if result.solver.exact or request.objective is Objective.MAX_COVERAGE:
            best_pairs, best_total = exact_peers(
                ref, coverage=request.objective is Objective.MAX_COVERAGE
            )
            if request.objective is Objective.MAX_COVERAGE and result.solver.exact:
                assert pairs == best_pairs
            if result.solver.exact:
                assert total == pytest.approx(best_total, abs=tolerance)
    elif request.objective is Objective.MAX_SCORE:
        _, best_total = exact_bipartite(ref, coverage=False)
        assert total <= best_total + tolerance
        if result.solver.exact:
            assert total == pytest.approx(best_total, abs=tolerance)
    elif request.objective is Objective.MAX_COVERAGE:
        # Maximum cardinality is proven on every path (augmenting-path check).
        assert pairs == max_cardinality(ref)
        best_pairs, best_total = exact_bipartite(ref, coverage=True)
        assert pairs == best_pairs
        if result.solver.exact:
            assert total == pytest.approx(best_total, abs=tolerance)
    else:
        check_stable(ref, result)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(), st.randoms(use_true_random=False))
def test_same_input_same_output_whatever_the_order(
    instance: tuple[MatchPool, MatchRequest], shuffler: random.Random
) -> None:
    pool, request = instance
    if request.format is MatchFormat.PEER and request.objective is Objective.STABLE:
        request = replace(request, objective=Objective.MAX_COVERAGE)
    shuffled = list(pool.candidates)
    shuffler.shuffle(shuffled)

    first = match(pool, request)
    again = match(pool, request)
    reordered = match(replace(pool, candidates=tuple(shuffled)), request)

    assert again == first
    assert reordered == first


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    instances(),
    st.sampled_from([Objective.MAX_SCORE, Objective.MAX_COVERAGE]),
    st.sampled_from(
        [MatchFormat.ONE_TO_ONE, MatchFormat.GROUP, MatchFormat.REVERSE, MatchFormat.PEER]
    ),
)
def test_a_tiny_candidate_graph_still_yields_a_proven_optimum(
    instance: tuple[MatchPool, MatchRequest], objective: Objective, format_: MatchFormat
) -> None:
    pool, request = instance
    request = replace(request, objective=objective, format=format_, solver=TINY_GRAPH)
    ref = Reference(pool, request)

    result = match(pool, request)

    check_hard_constraints(ref, result)
    assert result.solver.exact
    coverage = objective is Objective.MAX_COVERAGE
    exact = exact_peers if ref.peer else exact_bipartite
    best_pairs, best_total = exact(ref, coverage=coverage)
    total = sum(a.score for a in result.assignments)
    assert total == pytest.approx(best_total, abs=1e-6 * (1 + len(ref.mentees())))
    if coverage:
        assert len(result.assignments) == best_pairs
