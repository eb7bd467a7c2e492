"""The candidate pool rules, its fingerprint, and recording/publishing a run: pure."""

from datetime import UTC, datetime

import pytest

from matching.domain import runs
from matching.domain.choices import Refusal, assess
from matching.domain.engine import MatchFormat, Role, compare_results, match
from matching.domain.errors import RunAlreadyPublishedError, StaleRunError, UnavailableError
from matching.domain.pool import (
    EmployeeFacts,
    PairFacts,
    ParticipantFacts,
    PoolSnapshot,
    ProgramFacts,
    build_pool,
    check_scope,
)
from matching.domain.runs import RunSettings
from mentorship_contracts.common import Profile
from mentorship_contracts.matching import MatchRunCompleted, MatchRunProposalsRecorded

NOW = datetime(2025, 3, 3, 9, tzinfo=UTC)
PROGRAM = ProgramFacts("prog", "open", ("one_to_one", "group", "peer"), mentor_capacity=2)


def person(employee_id: str, role: str, **profile) -> ParticipantFacts:
    return ParticipantFacts(employee_id, role, Profile(**profile))


def snapshot(**changes) -> PoolSnapshot:
    values = {
        "program": PROGRAM,
        "participants": (
            person("m1", "mentor", skills_offered=["Python "]),
            person("m2", "mentor", capacity=1),
            person("e1", "mentee", skills_sought=["python"]),
            person("e2", "mentee", timezone="Mars/Olympus"),
            person("e3", "mentee"),
            person("gone", "mentee"),
        ),
        "employees": {
            "m1": EmployeeFacts("m1", manager_id="boss", job_level=6),
            "e1": EmployeeFacts("e1", manager_id="lead", timezone="Asia/Tokyo"),
            "lead": EmployeeFacts("lead", manager_id="m1"),
            "gone": EmployeeFacts("gone", active=False),
        },
    }
    return PoolSnapshot(**{**values, **changes})


def ids(pool, role: Role) -> dict[str, int | None]:
    return {c.employee_id: c.capacity for c in pool.pool.candidates if c.role is role}


def test_the_pool_holds_free_mentees_and_the_capacity_left():
    taken = snapshot(
        pairs=(PairFacts("m1", "e3", "active"), PairFacts("m2", "e9", "declined")),
        requesting=frozenset({"e2"}),
    )

    built = build_pool(taken, MatchFormat.ONE_TO_ONE)

    assert ids(built, Role.MENTEE) == {"e1": None}
    assert ids(built, Role.MENTOR) == {"m1": 1, "m2": 1}
    assert built.previous_pairs == (("m1", "e3"), ("m2", "e9"))
    group = build_pool(taken, MatchFormat.GROUP)
    assert ids(group, Role.MENTOR) == {"m1": 0, "m2": 1}  # one group per mentor


def test_tags_are_case_folded_and_bad_timezones_ignored_with_a_warning():
    built = build_pool(snapshot(), MatchFormat.ONE_TO_ONE)
    by_id = {c.employee_id: c for c in built.pool.candidates}

    assert by_id["m1"].skills_offered == frozenset({"python"})
    assert by_id["e1"].timezone == "Asia/Tokyo"  # the directory's, as the profile has none
    assert by_id["e2"].timezone == "UTC"
    assert built.warnings == ("timezone 'Mars/Olympus' of 'e2' is not known; ignored",)
    assert built.pool.reporting_lines["lead"] == "m1"  # e1's skip-level manager is m1


def test_peers_are_everyone_free_once():
    built = build_pool(
        snapshot(participants=(*snapshot().participants, person("e1", "mentor"))),
        MatchFormat.PEER,
    )

    assert sorted(c.employee_id for c in built.pool.candidates) == ["e1", "e2", "e3", "m1", "m2"]


def test_the_fingerprint_changes_with_the_pool_only():
    base = build_pool(snapshot(), MatchFormat.ONE_TO_ONE).fingerprint

    assert build_pool(snapshot(), MatchFormat.ONE_TO_ONE).fingerprint == base
    assert build_pool(snapshot(blocked=(("m1", "e1"),)), MatchFormat.ONE_TO_ONE).fingerprint != base
    assert build_pool(snapshot(), MatchFormat.REVERSE).fingerprint != base
    assert (
        build_pool(
            snapshot(pairs=(PairFacts("m2", "x", "ended"),)), MatchFormat.ONE_TO_ONE
        ).fingerprint
        != base
    )


def test_a_rematch_names_free_enrolled_mentees_only():
    taken = snapshot(pairs=(PairFacts("m1", "e3", "proposed"),))

    check_scope(taken, MatchFormat.ONE_TO_ONE, ["e1"])
    with pytest.raises(UnavailableError):
        check_scope(taken, MatchFormat.ONE_TO_ONE, ["e3"])


def test_a_chosen_mentor_is_assessed_against_the_hard_constraints():
    pool = snapshot(employees={**snapshot().employees, "e3": EmployeeFacts("e3", manager_id="m1")})

    scored = assess(pool, "e1", "m2")
    reporting = assess(pool, "e3", "m1")
    not_a_mentor = assess(pool, "e1", "e3")

    assert not isinstance(scored, Refusal)
    assert scored.score == pytest.approx(sum(f.contribution for f in scored.explanation))
    assert isinstance(reporting, Refusal)
    assert reporting.lasting
    assert "reporting_line" in reporting.why
    assert isinstance(not_a_mentor, Refusal)


def recorded_run(proposals: int):
    mentees = [person(f"e{i:03}", "mentee") for i in range(proposals)]
    mentors = [ParticipantFacts(f"m{i}", "mentor", Profile(capacity=50)) for i in range(5)]
    pool = snapshot(participants=(*mentors, *mentees), employees={})
    built = build_pool(pool, MatchFormat.ONE_TO_ONE)
    settings = RunSettings(objective=runs.Objective.MAX_COVERAGE)
    result = match(built.pool, settings.engine_request(built))
    events = runs.record(runs.RecordRun("run-1", "prog", "run", settings, built, result, None, NOW))
    return built, result, events


def test_a_large_run_is_recorded_in_parts_that_add_up():
    built, result, events = recorded_run(proposals=260)

    completed, *parts = events
    assert isinstance(completed, MatchRunCompleted)
    assert all(isinstance(p, MatchRunProposalsRecorded) for p in parts)
    assert completed.parts == len(parts) == 2  # 250 proposals: 200 + 50
    assert [len(p.proposals) for p in parts] == [200, 50]
    assert sum(len(p.proposals) for p in parts) == len(result.assignments) == 250
    assert sum(len(p.unmatched) for p in parts) == len(result.unmatched) == 10
    assert completed.pool_fingerprint == built.fingerprint
    restored = runs.result_of(
        completed,
        [x for p in parts for x in p.proposals],
        [x for p in parts for x in p.unmatched],
    )
    same = compare_results(restored, result)
    assert (same.only_in_a, same.only_in_b, same.mentees_changed) == ((), (), ())
    assert all(m.delta in {0, None} for m in same.metrics)


def test_a_run_is_published_once_and_only_while_fresh():
    built, _, events = recorded_run(proposals=3)
    state = None
    for event in events:
        state = runs.evolve(state, event)

    with pytest.raises(StaleRunError):
        runs.publish(state, "run-1", auto_accept=False, current_fingerprint="other", now=NOW)
    published, proposals = runs.publish(
        state, "run-1", auto_accept=True, current_fingerprint=built.fingerprint, now=NOW
    )
    assert [p.pair_id for p in proposals] == published[0].pair_ids
    assert len(set(published[0].pair_ids)) == 3
    with pytest.raises(RunAlreadyPublishedError):
        runs.publish(
            runs.evolve(state, published[0]),
            "run-1",
            auto_accept=True,
            current_fingerprint=built.fingerprint,
            now=NOW,
        )
