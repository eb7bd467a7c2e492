"""Program KPIs as API.md defines them, and each KPI target against its actual.

Every input is narrowed to ``as_of`` here or by the loader (totals); see
docs/metrics.md for each formula in words.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date

from analytics.domain.facts import (
    FeedbackTotals,
    GoalTotals,
    KpiTarget,
    Pair,
    Participation,
    Program,
    SessionTotals,
)
from analytics.domain.privacy import Suppression, ratio
from analytics.domain.retention import ProgramRetention, participants_by_role

RATE_DIGITS = 4


@dataclass(frozen=True, slots=True)
class Participants:
    mentors: int
    mentees: int


@dataclass(frozen=True, slots=True)
class PairCounts:
    formed: int
    active: int
    ended: int


@dataclass(frozen=True, slots=True)
class Sessions:
    held: int
    per_active_pair_per_month: float | None
    mean_minutes: float | None


@dataclass(frozen=True, slots=True)
class Goals:
    set: int
    achieved: int
    achievement_rate: float | None


@dataclass(frozen=True, slots=True)
class Satisfaction:
    """``suppressed``: fewer responses than the threshold, every value None.

    ``nps`` alone is withheld (``nps_suppressed``) when too few answers carry an NPS.
    """

    responses: int | None
    mean_rating: float | None
    nps: float | None
    nps_responses: int | None
    suppressed: bool
    nps_suppressed: bool


@dataclass(frozen=True, slots=True)
class TargetResult:
    metric: str
    target: float
    actual: float | None
    met: bool | None
    higher_is_better: bool | None


@dataclass(frozen=True, slots=True)
class ProgramKpis:
    program_id: str
    as_of: date
    participants: Participants
    pairs: PairCounts
    match_rate: float | None
    median_days_to_match: float | None
    sessions: Sessions
    goals: Goals
    satisfaction: Satisfaction
    targets: tuple[TargetResult, ...]


@dataclass(frozen=True, slots=True)
class ProgramFacts:
    program: Program
    participations: tuple[Participation, ...]
    pairs: tuple[Pair, ...]
    sessions: SessionTotals
    goals: GoalTotals
    feedback: FeedbackTotals


def pair_counts(pairs: Iterable[Pair], as_of: date) -> PairCounts:
    pairs = list(pairs)
    return PairCounts(
        formed=sum(p.formed_by(as_of) for p in pairs),
        active=sum(p.active_on(as_of) for p in pairs),
        ended=sum(p.ended_by(as_of) for p in pairs),
    )


def _first_approvals(
    participations: Iterable[Participation], role: str, as_of: date
) -> dict[str, date]:
    first: dict[str, date] = {}
    for p in participations:
        if p.role == role and p.enrolled_on <= as_of:
            known = first.get(p.employee_id)
            first[p.employee_id] = p.enrolled_on if known is None else min(known, p.enrolled_on)
    return first


def matching(
    participations: Iterable[Participation], pairs: Iterable[Pair], as_of: date
) -> tuple[float | None, float | None]:
    """(match_rate, median_days_to_match) over the program's mentees as of ``as_of``."""
    approved = _first_approvals(participations, "mentee", as_of)
    first_pair: dict[str, date] = {}
    for pair in pairs:
        if pair.formed_on is not None and pair.formed_by(as_of) and pair.mentee_id in approved:
            known = first_pair.get(pair.mentee_id)
            first_pair[pair.mentee_id] = (
                pair.formed_on if known is None else min(known, pair.formed_on)
            )
    match_rate = ratio(len(first_pair), len(approved), RATE_DIGITS)
    days = [(formed - approved[mentee]).days for mentee, formed in first_pair.items()]
    median = round(float(statistics.median(days)), 1) if days else None
    return match_rate, median


def sessions(totals: SessionTotals, active_pairs: int) -> Sessions:
    return Sessions(
        held=totals.held,
        per_active_pair_per_month=ratio(totals.held_last_30_days, active_pairs, 2),
        mean_minutes=ratio(totals.minutes, totals.held, 1),
    )


def goals(totals: GoalTotals) -> Goals:
    return Goals(
        set=totals.set,
        achieved=totals.achieved,
        achievement_rate=ratio(totals.achieved, totals.set, RATE_DIGITS),
    )


def nps(promoters: int, detractors: int, answers: int) -> float | None:
    """% of answers 9-10 minus % of answers 0-6, rounded to one decimal."""
    return ratio(100 * (promoters - detractors), answers, 1)


def satisfaction(totals: FeedbackTotals, suppression: Suppression) -> Satisfaction:
    if suppression.hides(totals.responses):
        return Satisfaction(None, None, None, None, suppressed=True, nps_suppressed=True)
    nps_hidden = suppression.hides(totals.nps_answers)
    return Satisfaction(
        responses=totals.responses,
        mean_rating=ratio(totals.rating_sum, totals.responses, 2),
        nps=None if nps_hidden else nps(totals.promoters, totals.detractors, totals.nps_answers),
        nps_responses=totals.nps_answers,
        suppressed=False,
        nps_suppressed=nps_hidden,
    )


def _difference(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a - b, RATE_DIGITS)


# Metric name -> (how to read its actual, whether higher is better).
TargetReader = Callable[["ProgramKpis", "ProgramRetention | None"], float | None]
TARGET_METRICS: Mapping[str, tuple[TargetReader, bool]] = {
    "mentees": (lambda k, _: k.participants.mentees, True),
    "mentors": (lambda k, _: k.participants.mentors, True),
    "pairs_formed": (lambda k, _: k.pairs.formed, True),
    "pairs_active": (lambda k, _: k.pairs.active, True),
    "match_rate": (lambda k, _: k.match_rate, True),
    "median_days_to_match": (lambda k, _: k.median_days_to_match, False),
    "sessions_held": (lambda k, _: k.sessions.held, True),
    "sessions_per_active_pair_per_month": (
        lambda k, _: k.sessions.per_active_pair_per_month,
        True,
    ),
    "mean_session_minutes": (lambda k, _: k.sessions.mean_minutes, True),
    "goals_set": (lambda k, _: k.goals.set, True),
    "goals_achieved": (lambda k, _: k.goals.achieved, True),
    "goal_achievement_rate": (lambda k, _: k.goals.achievement_rate, True),
    "satisfaction_responses": (lambda k, _: k.satisfaction.responses, True),
    "mean_rating": (lambda k, _: k.satisfaction.mean_rating, True),
    "nps": (lambda k, _: k.satisfaction.nps, True),
    "mentee_retention_rate_12m": (lambda _, r: r.mentees.rate if r else None, True),
    "mentor_retention_rate_12m": (lambda _, r: r.mentors.rate if r else None, True),
    # Mentee (mentor) 12-month retention minus that of non-participants, in rate units:
    # a target of 0.15 reads "+15 points of retention over non-participants".
    "mentee_retention_12m": (
        lambda _, r: _difference(r.mentees.rate, r.non_participants.rate) if r else None,
        True,
    ),
    "mentor_retention_12m": (
        lambda _, r: _difference(r.mentors.rate, r.non_participants.rate) if r else None,
        True,
    ),
}
RETENTION_METRICS = frozenset(name for name in TARGET_METRICS if "retention" in name)
TARGET_WINDOW_DAYS = 365


def needs_retention(targets: Iterable[KpiTarget]) -> bool:
    return any(t.metric in RETENTION_METRICS for t in targets)


def _target(
    target: KpiTarget, kpis: ProgramKpis, retention: ProgramRetention | None
) -> TargetResult:
    known = TARGET_METRICS.get(target.metric)
    if known is None:
        return TargetResult(target.metric, target.target, None, None, None)
    read, higher = known
    actual = read(kpis, retention)
    if actual is None:
        return TargetResult(target.metric, target.target, None, None, higher)
    met = actual >= target.target if higher else actual <= target.target
    return TargetResult(target.metric, target.target, float(actual), met, higher)


def program_kpis(
    facts: ProgramFacts,
    as_of: date,
    suppression: Suppression,
    retention: ProgramRetention | None = None,
) -> ProgramKpis:
    """Every KPI of the program as of ``as_of``; ``retention`` (12 months, for targets)
    is needed only when :func:`needs_retention` says so."""
    roles = participants_by_role(facts.participations, as_of)
    pairs = pair_counts(facts.pairs, as_of)
    match_rate, median_days = matching(facts.participations, facts.pairs, as_of)
    kpis = ProgramKpis(
        program_id=facts.program.program_id,
        as_of=as_of,
        participants=Participants(mentors=len(roles["mentor"]), mentees=len(roles["mentee"])),
        pairs=pairs,
        match_rate=match_rate,
        median_days_to_match=median_days,
        sessions=sessions(facts.sessions, pairs.active),
        goals=goals(facts.goals),
        satisfaction=satisfaction(facts.feedback, suppression),
        targets=(),
    )
    targets = tuple(_target(t, kpis, retention) for t in facts.program.kpi_targets)
    return replace(kpis, targets=targets)
