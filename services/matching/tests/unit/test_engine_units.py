"""Unit tests of the matching engine: one rule per test, hand-made pools."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import numpy as np
import pytest

from matching.domain.engine import (
    ALGORITHM_VERSION,
    FACTORS,
    CandidateProfile,
    Constraints,
    DepartmentPreference,
    DuplicateCandidateError,
    InvalidTimezoneError,
    InvalidWeightError,
    MatchFormat,
    MatchingInputError,
    MatchPool,
    MatchRequest,
    Objective,
    Role,
    SolverOptions,
    UnknownAttributeError,
    UnmatchedReason,
    UnsupportedCombinationError,
    compare_results,
    match,
    parse_weights,
)
from matching.domain.engine.encoding import encode
from matching.domain.engine.indicators import Indicator
from matching.domain.engine.scoring import evaluate_block, evaluate_pairs
from matching.domain.engine.timezones import overlap_hours, utc_offset_hours


def mentor(employee_id: str, **fields: object) -> CandidateProfile:
    defaults: dict[str, object] = {
        "skills_offered": frozenset({"python"}),
        "languages": frozenset({"en"}),
        "job_level": 5,
        "capacity": 1,
    }
    return CandidateProfile(employee_id, Role.MENTOR, **(defaults | fields))  # type: ignore[arg-type]


def mentee(employee_id: str, **fields: object) -> CandidateProfile:
    defaults: dict[str, object] = {
        "skills_sought": frozenset({"python"}),
        "languages": frozenset({"en"}),
        "job_level": 3,
    }
    return CandidateProfile(employee_id, Role.MENTEE, **(defaults | fields))  # type: ignore[arg-type]


def pairs_of(pool: MatchPool, request: MatchRequest | None = None) -> set[tuple[str, str]]:
    result = match(pool, request or MatchRequest())
    return {(a.mentor_id, a.mentee_id) for a in result.assignments}


# ------------------------------------------------------------------------- timezones


def test_iana_names_use_standard_time_unless_a_date_is_given() -> None:
    assert utc_offset_hours("x", "Europe/Paris", None) == 1.0
    assert utc_offset_hours("x", "Europe/Paris", date(2025, 7, 1)) == 2.0
    assert utc_offset_hours("x", "Australia/Sydney", None) == 10.0
    assert utc_offset_hours("x", "Asia/Kolkata", None) == 5.5


@pytest.mark.parametrize(
    ("text", "hours"),
    [("UTC", 0.0), ("Z", 0.0), ("+05:30", 5.5), ("UTC-3", -3.0), ("GMT+0930", 9.5), (-8, -8.0)],
)
def test_offsets_are_read_from_text_and_numbers(text: str | float, hours: float) -> None:
    assert utc_offset_hours("x", text, None) == hours


@pytest.mark.parametrize("value", ["Mars/Olympus", "", "+15", 20, "../etc/passwd"])
def test_an_unreadable_timezone_names_the_candidate(value: str | float) -> None:
    with pytest.raises(InvalidTimezoneError) as caught:
        utc_offset_hours("emp-7", value, None)
    assert caught.value.employee_id == "emp-7"


def test_working_hours_overlap_on_the_24_hour_circle() -> None:
    offsets = np.array([0.0, 1.0, -5.0, 9.0, -15.0])
    hours = overlap_hours(offsets, offsets, (9.0, 17.0))
    assert hours[0, 0] == 8.0
    assert hours[0, 1] == 7.0
    assert hours[1, 2] == 2.0  # Paris and New York share 15:00-17:00 Paris time
    assert hours[0, 3] == 0.0
    assert hours[3, 4] == hours[4, 3] == 8.0  # 24 hours apart is the same clock
    assert hours[3, 3] == 8.0


# ---------------------------------------------------------------------------- weights


def test_an_unknown_weight_attribute_is_named() -> None:
    pool = MatchPool((mentor("m"), mentee("e")))
    with pytest.raises(UnknownAttributeError) as caught:
        match(pool, MatchRequest(weights={"skills": 1.0, "astrology": 2.0}))
    assert caught.value.attribute == "astrology"
    assert caught.value.field == "weights.astrology"
    assert "astrology" in str(caught.value)


def test_an_unknown_must_have_attribute_is_named() -> None:
    pool = MatchPool((mentor("m"), mentee("e")))
    request = MatchRequest(constraints=Constraints(must_have=frozenset({"height"})))
    with pytest.raises(UnknownAttributeError, match="height"):
        match(pool, request)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), True, "heavy"])
def test_a_weight_must_be_a_finite_number(bad: object) -> None:
    weights: dict[str, Any] = {"skills": bad}
    with pytest.raises(InvalidWeightError, match="skills"):
        match(MatchPool(()), MatchRequest(weights=weights))


def test_api_weights_split_into_numbers_and_must_haves() -> None:
    weights, must_have = parse_weights({"skills": 2, "languages": "must_have"})
    assert weights == {"skills": 2.0}
    assert must_have == frozenset({"languages"})
    with pytest.raises(UnknownAttributeError, match="zodiac"):
        parse_weights({"zodiac": "must_have"})


# ------------------------------------------------------------------------ constraints


def test_no_manager_skip_level_or_sibling_pairs() -> None:
    directory = {"ceo": None, "vp": "ceo", "boss": "vp"}
    pool = MatchPool(
        (
            mentor("boss", manager_id="vp"),  # e1's manager
            mentor("vp", manager_id="ceo"),  # e1's skip-level, known only via boss
            mentor("peer", manager_id="boss"),  # shares e1's manager
            mentor("far", manager_id="ceo"),
            mentee("e1", manager_id="boss"),
        ),
        reporting_lines=directory,
    )
    request = MatchRequest(objective=Objective.MAX_COVERAGE)
    assert pairs_of(pool, request) == {("far", "e1")}
    relaxed = replace(request, constraints=Constraints(exclude_reporting_line=False))
    assert match(pool, relaxed).solver.feasible_pairs == 4
    result = match(replace(pool, candidates=pool.candidates[:3] + pool.candidates[4:]), request)
    (unmatched,) = result.unmatched
    assert unmatched.reason is UnmatchedReason.NO_FEASIBLE_MENTOR
    assert dict(unmatched.excluded_by) == {"reporting_line": 3}


def test_a_mentor_reporting_to_the_mentee_is_excluded_too() -> None:
    # Reverse mentoring: the junior mentor may well report to the senior mentee.
    pool = MatchPool(
        (mentor("junior", manager_id="exec", job_level=2), mentee("exec", job_level=8))
    )
    request = MatchRequest(format=MatchFormat.REVERSE)
    assert pairs_of(pool, request) == set()
    allowed = replace(request, constraints=Constraints(exclude_reporting_line=False))
    assert pairs_of(pool, allowed) == {("junior", "exec")}


def test_language_timezone_blocked_and_previous_pairs_are_hard() -> None:
    pool = MatchPool(
        (
            mentor("fr", languages=frozenset({"fr"})),
            mentor("tokyo", timezone="Asia/Tokyo"),
            mentor("blocked"),
            mentor("before"),
            mentee("e", timezone="Europe/London"),
        )
    )
    constraints = Constraints(
        require_shared_language=True,
        min_timezone_overlap_hours=1,
        blocked_pairs=(("e", "blocked"),),
        previous_pairs=(("before", "e"),),
    )
    result = match(pool, MatchRequest(constraints=constraints))
    (unmatched,) = result.unmatched
    assert dict(unmatched.excluded_by) == {
        "language": 1,
        "timezone": 1,
        "blocked": 1,
        "previous_pair": 1,
    }
    assert "no feasible mentor" in unmatched.detail


def test_must_have_filters_pairs_whose_factor_is_zero() -> None:
    pool = MatchPool((mentor("sql", skills_offered=frozenset({"sql"})), mentor("py"), mentee("e")))
    request = MatchRequest(
        weights={"skills": 0.0},
        objective=Objective.MAX_COVERAGE,
        constraints=Constraints(must_have=frozenset({"skills"})),
    )
    assert pairs_of(pool, request) == {("py", "e")}


def test_someone_enrolled_on_both_sides_is_not_paired_with_themselves() -> None:
    pool = MatchPool((mentor("ann"), mentee("ann")))
    assert pairs_of(pool) == set()


def test_a_duplicate_candidate_is_refused() -> None:
    with pytest.raises(DuplicateCandidateError, match="e"):
        match(MatchPool((mentee("e"), mentee("e"), mentor("m"))), MatchRequest())


@pytest.mark.parametrize(
    "request_",
    [
        MatchRequest(working_hours=(17.0, 9.0)),
        MatchRequest(group_size=0),
        MatchRequest(seniority_gap=(3, 1)),
        MatchRequest(constraints=Constraints(min_timezone_overlap_hours=-1)),
    ],
)
def test_nonsense_requests_are_refused_with_the_field(request_: MatchRequest) -> None:
    with pytest.raises(MatchingInputError) as caught:
        match(MatchPool((mentor("m"), mentee("e"))), request_)
    assert caught.value.field


# ------------------------------------------------------------------------------ factors


def test_factor_values_and_explanation() -> None:
    pool = MatchPool(
        (
            mentor(
                "m",
                skills_offered=frozenset({"Python", "sql"}),
                goals=frozenset({"lead"}),
                interests=frozenset({"chess", "jazz"}),
                languages=frozenset({"en", "fr"}),
                timezone="Europe/Paris",
                department="eng",
                job_level=6,
            ),
            mentee(
                "e",
                skills_sought=frozenset({" python", "design"}),
                goals=frozenset({"lead", "switch"}),
                interests=frozenset({"chess"}),
                languages=frozenset({"fr"}),
                timezone="Europe/London",
                department="ops",
                job_level=1,
            ),
        )
    )
    request = MatchRequest(department_preference=DepartmentPreference.CROSS)
    (pair,) = match(pool, request).assignments
    values = {line.factor: line.value for line in pair.explanation}
    assert values == pytest.approx(
        {
            "skills": 0.5,  # one of two sought skills, case and blanks ignored
            "goals": 0.5,
            "interests": 0.5,  # Jaccard: 1 shared of 2 distinct
            "languages": 1.0,
            "timezone": 7 / 8,
            "department": 1.0,  # different departments, cross-functional preferred
            "seniority": 1 / 3,  # gap 5, preferred 1-3, tolerance 2: one of three steps left
        }
    )
    assert [line.factor for line in pair.explanation] == list(FACTORS)
    assert sum(line.contribution for line in pair.explanation) == pytest.approx(pair.score)
    assert all(line.contribution == line.weight * line.value for line in pair.explanation)


def test_reverse_mentoring_inverts_the_seniority_gap() -> None:
    pool = MatchPool((mentor("junior", job_level=2), mentee("senior", job_level=4)))
    one_to_one = match(pool, MatchRequest(objective=Objective.MAX_COVERAGE))
    reverse = match(
        pool, MatchRequest(objective=Objective.MAX_COVERAGE, format=MatchFormat.REVERSE)
    )
    seniority = {
        name: next(
            line.value for line in r.assignments[0].explanation if line.factor == "seniority"
        )
        for name, r in (("one_to_one", one_to_one), ("reverse", reverse))
    }
    assert seniority == {"one_to_one": 0.0, "reverse": 1.0}


def test_a_negative_weight_penalises_its_factor() -> None:
    pool = MatchPool(
        (
            mentor("same", department="eng"),
            mentor("other", department="ops"),
            mentee("e", department="eng"),
        )
    )
    assert pairs_of(pool, MatchRequest(weights={"department": 5})) == {("same", "e")}
    assert pairs_of(pool, MatchRequest(weights={"department": -5})) == {("other", "e")}


def test_block_and_pair_evaluation_agree_bit_for_bit() -> None:
    rng = np.random.default_rng(3)
    topics = [f"t{k}" for k in range(12)]

    def some() -> frozenset[str]:
        return frozenset(rng.choice(topics, size=int(rng.integers(0, 5))).tolist())

    people = [
        CandidateProfile(
            f"p{k}",
            Role.MENTOR if k % 3 == 0 else Role.MENTEE,
            skills_offered=some(),
            skills_sought=some(),
            goals=some(),
            interests=some(),
            languages=frozenset({"en"}),
            timezone=float(rng.integers(-8, 9)),
            department=str(rng.integers(0, 3)),
            job_level=int(rng.integers(1, 8)),
            capacity=2,
        )
        for k in range(40)
    ]
    for format_ in (MatchFormat.ONE_TO_ONE, MatchFormat.PEER):
        problem = encode(MatchPool(tuple(people)), MatchRequest(format=format_))
        rows = np.arange(len(problem.left), dtype=np.int64)
        block = evaluate_block(problem, rows)
        grid_rows, grid_cols = np.meshgrid(rows, np.arange(len(problem.right)), indexing="ij")
        pairs = evaluate_pairs(problem, grid_rows.ravel(), grid_cols.ravel())
        assert np.array_equal(block.scores.ravel(), pairs.scores)
        assert np.array_equal(block.feasible.ravel(), pairs.feasible)
        if format_ is MatchFormat.PEER:
            assert np.array_equal(block.scores, block.scores.T)


def test_large_vocabularies_count_like_small_ones() -> None:
    sets = [frozenset({"a", "b", "c"}), frozenset({"b"}), frozenset()]
    other = [frozenset({"b", "c", "z"}), frozenset({"a"})]
    small = {v: k for k, v in enumerate("abcz")}
    large = small | {f"x{k}": 10 + k for k in range(400)}  # beyond the bitset limit
    rows = np.arange(3, dtype=np.int64)
    for codes in (small, large):
        mine, theirs = Indicator.build(sets, codes), Indicator.build(other, codes)
        assert mine.counts(rows, theirs).tolist() == [[2.0, 1.0], [1.0, 0.0], [0.0, 0.0]]
        pair_rows, pair_cols = np.array([0, 1, 2]), np.array([1, 0, 0])
        assert mine.pair_counts(pair_rows, theirs, pair_cols).tolist() == [1.0, 1.0, 0.0]


# --------------------------------------------------------------------- objectives


def contested_pool() -> MatchPool:
    """Two mentees want the one star mentor; only one of them can use the other."""
    return MatchPool(
        (
            mentor("star", skills_offered=frozenset({"python", "sql"})),
            mentor("niche", skills_offered=frozenset({"sql"}), languages=frozenset({"fr"})),
            mentee("a", skills_sought=frozenset({"python", "sql"})),
            mentee(
                "b", skills_sought=frozenset({"python", "sql"}), languages=frozenset({"en", "fr"})
            ),
        )
    )


def test_objectives_trade_score_for_coverage_differently() -> None:
    pool = contested_pool()
    constraints = Constraints(require_shared_language=True)
    coverage = match(pool, MatchRequest(objective=Objective.MAX_COVERAGE, constraints=constraints))
    stable = match(pool, MatchRequest(objective=Objective.STABLE, constraints=constraints))
    assert {(x.mentor_id, x.mentee_id) for x in coverage.assignments} == {
        ("star", "a"),
        ("niche", "b"),
    }
    assert coverage.metrics.coverage == 1.0
    assert stable.solver.method == "deferred_acceptance"
    assert stable.metrics.matched == 2


def test_unmatched_mentees_get_a_reason() -> None:
    pool = MatchPool(
        (
            mentor("m", skills_offered=frozenset({"python"})),
            mentee("a"),
            mentee("b", skills_sought=frozenset({"python", "sql"})),
            mentee("lonely", languages=frozenset({"ja"})),
        )
    )
    result = match(pool, MatchRequest(constraints=Constraints(require_shared_language=True)))
    reasons = {u.employee_id: u.reason for u in result.unmatched}
    assert reasons == {
        "b": UnmatchedReason.CAPACITY_EXHAUSTED,
        "lonely": UnmatchedReason.NO_FEASIBLE_MENTOR,
    }


def test_max_score_leaves_a_mentee_alone_rather_than_lower_the_total() -> None:
    pool = MatchPool((mentor("m"), mentee("e")))
    result = match(pool, MatchRequest(weights=dict.fromkeys(FACTORS, -1.0)))
    assert result.assignments == ()
    assert result.unmatched[0].reason is UnmatchedReason.SCORE_NOT_POSITIVE
    covered = match(
        pool, MatchRequest(objective=Objective.MAX_COVERAGE, weights=dict.fromkeys(FACTORS, -1.0))
    )
    assert len(covered.assignments) == 1


def test_group_format_gives_each_mentor_one_group_of_k() -> None:
    pool = MatchPool(
        (
            mentor("lead", capacity=1),
            mentor("off", capacity=0),
            *(mentee(f"e{k}") for k in range(5)),
        )
    )
    result = match(pool, MatchRequest(format=MatchFormat.GROUP, group_size=3))
    assert len(result.assignments) == 3
    assert {a.group_id for a in result.assignments} == {"lead"}
    assert result.metrics.slots_total == 3


def test_peer_format_pairs_peers_and_refuses_stable() -> None:
    peers = tuple(
        CandidateProfile(
            name,
            role,
            skills_offered=frozenset({offered}),
            skills_sought=frozenset({sought}),
            languages=frozenset({"en"}),
        )
        for name, role, offered, sought in [
            ("ann", Role.MENTEE, "python", "sql"),
            ("bob", Role.MENTOR, "sql", "python"),
            ("cat", Role.MENTEE, "design", "sales"),
            ("dan", Role.MENTEE, "sales", "design"),
            ("eve", Role.MENTEE, "python", "python"),
        ]
    )
    result = match(MatchPool(peers), MatchRequest(format=MatchFormat.PEER))
    assert {(a.mentor_id, a.mentee_id) for a in result.assignments} == {
        ("ann", "bob"),
        ("cat", "dan"),
    }
    assert result.solver.method == "blossom"
    assert result.solver.exact
    assert [u.employee_id for u in result.unmatched] == ["eve"]
    with pytest.raises(UnsupportedCombinationError):
        match(MatchPool(peers), MatchRequest(format=MatchFormat.PEER, objective=Objective.STABLE))


def test_the_candidate_graph_is_repaired_to_maximum_coverage() -> None:
    # Every mentee's single best candidate is the same mentor; coverage needs the rest.
    mentors = [mentor("best", skills_offered=frozenset({"python", "sql"}))] + [
        mentor(f"ok{k}", skills_offered=frozenset({"sql"})) for k in range(4)
    ]
    mentees = [mentee(f"e{k}", skills_sought=frozenset({"python", "sql"})) for k in range(5)]
    tiny = SolverOptions(
        full_graph_arc_limit=0,
        mentee_candidates=1,
        mentor_candidates_per_slot=0,
        mentor_candidates_extra=0,
    )
    for objective in (Objective.MAX_COVERAGE, Objective.MAX_SCORE):
        result = match(
            MatchPool((*mentors, *mentees)), MatchRequest(objective=objective, solver=tiny)
        )
        assert result.solver.graph == "candidates"
        assert result.metrics.matched == 5


# ------------------------------------------------------------------ results and runs


def test_results_carry_version_weights_and_breakdown() -> None:
    pool = MatchPool(
        (
            mentor("m1", capacity=1),
            mentee("a", department="eng", attributes={"site": "paris"}),
            mentee(
                "b",
                department="ops",
                skills_sought=frozenset({"python", "sql"}),
                attributes={"site": "lyon"},
            ),
        )
    )
    result = match(pool, MatchRequest(weights={"skills": 4}, breakdown_by="site"))
    assert result.algorithm_version == ALGORITHM_VERSION
    assert result.weights["skills"] == 4.0
    assert result.weights["goals"] == 2.0
    groups = {g.group: (g.mentees, g.matched) for g in result.metrics.breakdown}
    assert groups == {"lyon": (1, 0), "paris": (1, 1)}
    assert result.metrics.capacity_used == 1.0
    with pytest.raises(MatchingInputError, match="shoe_size"):
        match(pool, MatchRequest(breakdown_by="shoe_size"))


def test_two_runs_compare_side_by_side() -> None:
    pool = contested_pool()
    a = match(pool, MatchRequest(objective=Objective.MAX_SCORE))
    b = match(
        pool,
        MatchRequest(
            objective=Objective.MAX_COVERAGE, constraints=Constraints(require_shared_language=True)
        ),
    )
    diff = compare_results(a, b)
    pairs_a = {(p.mentor_id, p.mentee_id) for p in diff.only_in_a + diff.in_both}
    pairs_b = {(p.mentor_id, p.mentee_id) for p in diff.only_in_b + diff.in_both}
    assert pairs_a == {(x.mentor_id, x.mentee_id) for x in a.assignments}
    assert pairs_b == {(x.mentor_id, x.mentee_id) for x in b.assignments}
    coverage = next(m for m in diff.metrics if m.metric == "coverage")
    assert coverage.delta == pytest.approx(b.metrics.coverage - a.metrics.coverage)
    assert compare_results(a, a).only_in_a == compare_results(a, a).only_in_b == ()
    assert compare_results(a, a).mentees_changed == ()
    assert diff.same_algorithm_version
