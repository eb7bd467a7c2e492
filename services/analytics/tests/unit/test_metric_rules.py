"""The metric rules of API.md, case by case, on plain facts."""

from datetime import UTC, date, datetime, timedelta

import pytest

from analytics.domain.engagement import RiskReason, at_risk_pairs, monthly
from analytics.domain.facts import (
    Checkin,
    Employee,
    FeedbackTotals,
    GoalTotals,
    HeldSession,
    KpiTarget,
    Pair,
    Participation,
    Program,
    Rating,
    SessionTotals,
    Spell,
)
from analytics.domain.kpis import ProgramFacts, matching, nps, program_kpis, satisfaction
from analytics.domain.privacy import Suppression
from analytics.domain.retention import Window, days_before, group_retention

D = date(2025, 6, 30)
FIVE = Suppression(5)


def employee(eid: str, *spells: tuple[date, date | None], department: str = "X") -> Employee:
    return Employee(eid, department, None, tuple(Spell(b, e) for b, e in spells))


def test_suppression_refuses_a_threshold_below_three():
    with pytest.raises(ValueError, match="at least 3"):
        Suppression(2)
    assert Suppression(3).hides(2)
    assert not Suppression(3).hides(3)


def test_retention_counts_those_employed_at_the_start_and_still_there_at_as_of():
    window = Window.ending(D, 365)
    start = window.start
    members = [
        employee("hired-on-start", (start, None)),
        employee("left-on-start", (date(2020, 1, 1), start)),  # employed at start, not retained
        employee("left-before-start", (date(2020, 1, 1), start - timedelta(days=1))),
        employee("hired-after-start", (start + timedelta(days=1), None)),
        employee("left-on-as-of", (date(2020, 1, 1), D)),
        employee("leaves-after-as-of", (date(2020, 1, 1), D + timedelta(days=1))),
        employee(
            "rehired-before-start", (date(2019, 1, 1), date(2020, 1, 1)), (date(2021, 1, 1), None)
        ),
        employee("stays", (date(2015, 1, 1), None)),
    ]

    group = group_retention(members, window, Suppression(3))

    assert (group.headcount, group.retained) == (6, 4)
    assert group.rate == round(4 / 6, 4)
    assert group_retention(members, window, Suppression(7)).suppressed


def test_a_window_reaching_before_the_first_date_starts_there():
    assert days_before(date(1, 1, 10), 365) == date.min
    assert days_before(D, 30) == date(2025, 5, 31)


def test_match_rate_and_median_days_use_each_mentees_first_approval_and_first_pair():
    participations = [
        Participation("m1", "mentee", date(2025, 1, 1)),
        Participation("m1", "mentee", date(2025, 3, 1)),  # enrolled again later
        Participation("m2", "mentee", date(2025, 2, 1)),
        Participation("m3", "mentee", date(2025, 2, 1)),
        Participation("m4", "mentee", date(2025, 8, 1)),  # after as_of
        Participation("x", "mentor", date(2025, 1, 1)),
    ]
    pairs = [
        Pair("p1", "x", "m1", date(2025, 1, 11), date(2025, 2, 1)),
        Pair("p2", "x", "m1", date(2025, 2, 5), None),
        Pair("p3", "x", "m2", date(2025, 2, 21), None),
        Pair("p4", "x", "m3", date(2025, 7, 1), None),  # formed after as_of
        Pair("p5", "x", "m2", None, None),  # proposed only
    ]

    assert matching(participations, pairs, D) == (round(2 / 3, 4), 15.0)
    assert matching(participations, [], D) == (0.0, None)
    assert matching([], pairs, D) == (None, None)


def test_nps_is_promoters_minus_detractors_in_percent_rounded_to_one_decimal():
    assert nps(promoters=2, detractors=1, answers=3) == 33.3
    assert nps(0, 0, 0) is None


def test_satisfaction_is_withheld_below_the_threshold_and_nps_on_its_own():
    assert satisfaction(FeedbackTotals(4, 16, 4, 2, 1), FIVE).suppressed
    shown = satisfaction(FeedbackTotals(6, 21, 4, 2, 1), FIVE)
    assert (shown.responses, shown.mean_rating, shown.nps, shown.nps_suppressed) == (
        6,
        3.5,
        None,
        True,
    )


def test_targets_compare_actuals_in_the_right_direction_and_ignore_unknown_metrics():
    program = Program(
        "p",
        "P",
        date(2024, 1, 1),
        None,
        14,
        (
            KpiTarget("match_rate", 0.5),
            KpiTarget("median_days_to_match", 5),
            KpiTarget("no_such_metric", 1),
        ),
    )
    facts = ProgramFacts(
        program=program,
        participations=(Participation("m", "mentee", date(2025, 1, 1)),),
        pairs=(Pair("p", "x", "m", date(2025, 1, 11), None),),
        sessions=SessionTotals(held=3, minutes=100, held_last_30_days=2),
        goals=GoalTotals(set=4, achieved=1),
        feedback=FeedbackTotals(0, 0, 0, 0, 0),
    )

    kpis = program_kpis(facts, D, FIVE)

    assert kpis.sessions.per_active_pair_per_month == 2.0
    assert kpis.sessions.mean_minutes == 33.3
    assert kpis.goals.achievement_rate == 0.25
    assert [(t.metric, t.actual, t.met) for t in kpis.targets] == [
        ("match_rate", 1.0, True),
        ("median_days_to_match", 10.0, False),
        ("no_such_metric", None, None),
    ]


def rating(pair: str, value: int, day: date, fid: str) -> Rating:
    return Rating(pair, value, None, day, datetime(2025, 1, 1, tzinfo=UTC), fid)


def test_at_risk_rules():
    pairs = [
        Pair("quiet", "a", "b", date(2025, 1, 1), None),
        Pair("never-met", "a", "c", date(2025, 5, 1), None),
        Pair("new", "a", "d", date(2025, 6, 20), None),
        Pair("unhappy", "a", "e", date(2025, 1, 1), None),
        Pair("recovered", "a", "f", date(2025, 1, 1), None),
        Pair("misfit", "a", "g", date(2025, 6, 25), None),
        Pair("ended", "a", "h", date(2025, 1, 1), date(2025, 3, 1)),
    ]
    last_held = {
        "quiet": date(2025, 6, 1),
        "unhappy": D,
        "recovered": D,
        "misfit": D,
        "ended": date(2025, 2, 1),
    }
    ratings = [
        rating("unhappy", 1, date(2025, 6, 1), "f1"),
        rating("unhappy", 2, date(2025, 6, 2), "f2"),
        rating("recovered", 1, date(2025, 6, 1), "f3"),
        rating("recovered", 2, date(2025, 6, 2), "f4"),
        rating("recovered", 4, date(2025, 6, 2), "f5"),  # same day, later id: the latest
    ]

    found = at_risk_pairs(
        pairs,
        cadence_days=14,
        last_held=last_held,
        ratings=ratings,
        failed_fit_checks=["misfit"],
        as_of=D,
    )

    assert [(p.pair_id, p.reasons) for p in found] == [
        ("misfit", (RiskReason.FAILED_FIT_CHECK,)),
        ("never-met", (RiskReason.NO_SESSION_YET,)),
        ("quiet", (RiskReason.NO_RECENT_SESSION,)),
        ("unhappy", (RiskReason.LOW_RATINGS,)),
    ]


def test_months_count_sessions_and_withhold_small_satisfaction():
    held = [HeldSession("p", date(2025, 5, 3), 30), HeldSession("p", date(2025, 6, 3), 60)]
    answers = [rating("p", 4, date(2025, 6, d), f"f{d}") for d in range(1, 6)]

    months = monthly(
        held,
        answers,
        [Checkin(date(2025, 6, 9))],
        since=date(2025, 4, 15),
        as_of=D,
        suppression=FIVE,
    )

    assert [
        (m.month, m.sessions_held, m.session_minutes, m.checkins, m.responses) for m in months
    ] == [
        ("2025-04", 0, 0, 0, None),
        ("2025-05", 1, 30, 0, None),
        ("2025-06", 1, 60, 1, 5),
    ]
    assert months[2].mean_rating == 4.0
    assert months[0].suppressed
