"""Engagement: at-risk pairs with their reasons, and sessions and satisfaction by month."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from analytics.domain.facts import Checkin, HeldSession, Pair, Rating
from analytics.domain.kpis import nps
from analytics.domain.privacy import Suppression, ratio

LOW_RATING = 2
# A monthly table spans at most this many months, ending at as_of.
MAX_MONTHS = 600


class RiskReason(StrEnum):
    NO_RECENT_SESSION = "no_recent_session"
    NO_SESSION_YET = "no_session_yet"
    LOW_RATINGS = "low_ratings"
    FAILED_FIT_CHECK = "failed_fit_check"


@dataclass(frozen=True, slots=True)
class AtRiskPair:
    pair_id: str
    reasons: tuple[RiskReason, ...]
    last_session_on: date | None


def _last_two_low(ratings: list[Rating]) -> bool:
    latest = sorted(ratings, key=lambda r: (r.submitted_on, r.recorded_at, r.feedback_id))[-2:]
    return len(latest) == 2 and all(r.rating <= LOW_RATING for r in latest)  # noqa: PLR2004 - "the last two"


def _reasons(
    pair: Pair,
    last: date | None,
    ratings: list[Rating],
    *,
    failed: bool,
    limit: int | None,
    as_of: date,
) -> list[RiskReason]:
    assert pair.formed_on is not None  # noqa: S101 - only active pairs are judged
    reasons: list[RiskReason] = []
    if limit is not None and last is not None and (as_of - last).days > limit:
        reasons.append(RiskReason.NO_RECENT_SESSION)
    if limit is not None and last is None and (as_of - pair.formed_on).days > limit:
        reasons.append(RiskReason.NO_SESSION_YET)
    if _last_two_low(ratings):
        reasons.append(RiskReason.LOW_RATINGS)
    if failed:
        reasons.append(RiskReason.FAILED_FIT_CHECK)
    return reasons


def at_risk_pairs(
    pairs: Iterable[Pair],
    *,
    cadence_days: int | None,
    last_held: Mapping[str, date],
    ratings: Iterable[Rating],
    failed_fit_checks: Iterable[str],
    as_of: date,
) -> list[AtRiskPair]:
    """Active pairs (as of ``as_of``) that match any rule of API.md, by pair id.

    ``last_held``: each pair's latest held session on or before ``as_of``; ``ratings``
    and ``failed_fit_checks`` (pair ids) are those on or before ``as_of``. Without a
    cadence the two time rules do not apply.
    """
    by_pair: dict[str, list[Rating]] = {}
    for rating in ratings:
        if rating.submitted_on <= as_of:
            by_pair.setdefault(rating.pair_id, []).append(rating)
    failed = set(failed_fit_checks)
    limit = 2 * cadence_days if cadence_days is not None else None
    answer = []
    for pair in sorted(pairs, key=lambda p: p.pair_id):
        if not pair.active_on(as_of):
            continue
        last = last_held.get(pair.pair_id)
        reasons = _reasons(
            pair,
            last,
            by_pair.get(pair.pair_id, []),
            failed=pair.pair_id in failed,
            limit=limit,
            as_of=as_of,
        )
        if reasons:
            answer.append(AtRiskPair(pair.pair_id, tuple(reasons), last))
    return answer


@dataclass(frozen=True, slots=True)
class Month:
    """One calendar month; the satisfaction values are None when suppressed."""

    month: str
    sessions_held: int
    session_minutes: int
    checkins: int
    responses: int | None
    mean_rating: float | None
    nps: float | None
    suppressed: bool


def _month(day: date) -> tuple[int, int]:
    return day.year, day.month


def _months_before(day: date, months: int) -> date:
    """The first day of the month ``months`` before ``day``'s month (not before year 1)."""
    index = max(0, day.year * 12 + day.month - 1 - months)
    return date(max(1, index // 12), index % 12 + 1, 1)


def _months(first: tuple[int, int], last: tuple[int, int]) -> list[tuple[int, int]]:
    months = []
    year, month = first
    while (year, month) <= last:
        months.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)  # noqa: PLR2004 - December
    return months


def monthly(
    held: Iterable[HeldSession],
    ratings: Iterable[Rating],
    checkins: Iterable[Checkin],
    *,
    since: date,
    as_of: date,
    suppression: Suppression,
) -> list[Month]:
    """Every month from ``since`` to ``as_of`` (the last :data:`MAX_MONTHS` at most);
    facts outside that span are left out.

    A month's satisfaction (responses, mean rating, NPS) is suppressed when it has
    fewer responses than the threshold; session and check-in counts are not answers
    and are always shown.
    """
    since = max(since, _months_before(as_of, MAX_MONTHS - 1))
    window = (since, as_of)
    counts: dict[tuple[int, int], list[int]] = {
        m: [0, 0, 0] for m in _months(_month(since), _month(as_of))
    }
    answers: dict[tuple[int, int], list[Rating]] = {m: [] for m in counts}
    for session in held:
        if window[0] <= session.held_on <= window[1]:
            row = counts[_month(session.held_on)]
            row[0] += 1
            row[1] += session.duration_minutes
    for checkin in checkins:
        if window[0] <= checkin.completed_on <= window[1]:
            counts[_month(checkin.completed_on)][2] += 1
    for rating in ratings:
        if window[0] <= rating.submitted_on <= window[1]:
            answers[_month(rating.submitted_on)].append(rating)
    result = []
    for key, (sessions_held, minutes, checkin_count) in counts.items():
        month = f"{key[0]:04d}-{key[1]:02d}"
        given = answers[key]
        if suppression.hides(len(given)):
            result.append(
                Month(
                    month, sessions_held, minutes, checkin_count, None, None, None, suppressed=True
                )
            )
            continue
        scored = [r.nps for r in given if r.nps is not None]
        result.append(
            Month(
                month=month,
                sessions_held=sessions_held,
                session_minutes=minutes,
                checkins=checkin_count,
                responses=len(given),
                mean_rating=ratio(sum(r.rating for r in given), len(given), 2),
                nps=None
                if suppression.hides(len(scored))
                else nps(sum(s >= 9 for s in scored), sum(s <= 6 for s in scored), len(scored)),  # noqa: PLR2004 - NPS bands
                suppressed=False,
            )
        )
    return result
