"""Analytics, end to end: a known two-year history in, every figure out, exactly.

A seeded dataset — a directory with hires, departures (one scheduled in the future,
one restated by deprovisioning), rehires, a departure undone, promotions and
department moves; two programs; applications approved, waitlisted, rejected and
withdrawn; pairs proposed, declined, formed, ended and rematched; sessions held on
schedule, back-dated before their pair formed, scheduled then cancelled; goals set,
achieved and dropped; feedback with NPS; check-ins; a failed fit check — is published
as contract events on real JetStream streams, half before the analytics service
starts (it catches up in bulk) and half while it runs (its consumers apply them one
by one). Every KPI and every retention figure is then computed here, independently,
in plain Python from the dataset following API.md's definitions, and must equal the
API's answer for today and two past dates. Some groups fall under the suppression
threshold on purpose.
"""

from __future__ import annotations

import importlib
import statistics
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

from mentorship_kit.messaging import connect, ensure_stream
from mentorship_kit.testing import utc_days, wait_until

# The analytics test support lives with the service's tests (importlib mode: put it on
# the path, then import it).
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "services/analytics/tests"))
support = importlib.import_module("analytics_support")
dataset = importlib.import_module("analytics_dataset")
Answer, Dataset, Person = dataset.Answer, dataset.Dataset, dataset.Person
P1, TODAY, CADENCE, TARGETS = dataset.P1, dataset.TODAY, dataset.CADENCE, dataset.TARGETS
build_dataset = dataset.build_dataset

THRESHOLD = 5
AS_OF_DATES = [TODAY, TODAY - timedelta(days=200), TODAY - timedelta(days=450)]


# -- the expectations, computed independently from API.md's definitions --------------------


def group(members: list[Person], start: date, as_of: date) -> dict[str, object]:
    headcount = retained = 0
    for person in members:
        covering = [s for s in person.spells if s[0] <= start and (s[1] is None or s[1] >= start)]  # type: ignore[operator]
        if not covering:
            continue
        headcount += 1
        end = covering[0][1]
        if end is None or end > as_of:
            retained += 1
    if headcount < THRESHOLD:
        return {"headcount": None, "retained": None, "rate": None, "suppressed": True}
    return {
        "headcount": headcount,
        "retained": retained,
        "rate": round(retained / headcount, 4),
        "suppressed": False,
    }


def approved(
    data: Dataset, as_of: date, program_id: str | None = None, role: str | None = None
) -> set[str]:
    return {
        e.employee_id
        for e in data.enrollments
        if e.enrolled_on is not None
        and e.enrolled_on <= as_of
        and (program_id is None or e.program_id == program_id)
        and (role is None or e.role == role)
    }


def expected_retention(data: Dataset, as_of: date, window_days: int) -> dict[str, object]:
    start = as_of - timedelta(days=window_days)
    anywhere = approved(data, as_of)
    by_id = {p.employee_id: p for p in data.people}
    return {
        "window_start": start.isoformat(),
        "as_of": as_of.isoformat(),
        "mentees": group([by_id[e] for e in approved(data, as_of, P1, "mentee")], start, as_of),
        "mentors": group([by_id[e] for e in approved(data, as_of, P1, "mentor")], start, as_of),
        "non_participants": group(
            [p for p in data.people if p.employee_id not in anywhere], start, as_of
        ),
    }


def expected_organisation(data: Dataset, as_of: date, window_days: int) -> list[dict[str, object]]:
    start = as_of - timedelta(days=window_days)
    anywhere = approved(data, as_of)
    departments = {p.department for p in data.people if p.spells[0][0] <= as_of}  # type: ignore[operator]
    groups = []
    for key in sorted(departments, key=lambda d: (d is None, d or "")):
        members = [p for p in data.people if p.department == key]
        groups.append(
            {
                "key": key,
                "participants": group(
                    [p for p in members if p.employee_id in anywhere], start, as_of
                ),
                "non_participants": group(
                    [p for p in members if p.employee_id not in anywhere], start, as_of
                ),
            }
        )
    return groups


def expected_kpis(data: Dataset, as_of: date) -> dict[str, object]:
    mentees = approved(data, as_of, P1, "mentee")
    mentors = approved(data, as_of, P1, "mentor")
    pairs = [p for p in data.pairs if p.program_id == P1]
    formed = [p for p in pairs if p.formed_on is not None and p.formed_on <= as_of]
    ended = [p for p in pairs if p.ended_on is not None and p.ended_on <= as_of]
    active = [p for p in formed if p.ended_on is None or p.ended_on > as_of]
    first_approval = {
        m: min(
            e.enrolled_on
            for e in data.enrollments
            if e.employee_id == m
            and e.program_id == P1
            and e.role == "mentee"
            and e.enrolled_on
            and e.enrolled_on <= as_of
        )
        for m in mentees
    }
    first_pair: dict[str, date] = {}
    for p in formed:
        if p.mentee_id in mentees:
            first_pair[p.mentee_id] = min(first_pair.get(p.mentee_id, p.formed_on), p.formed_on)  # type: ignore[type-var]
    days = [(first_pair[m] - first_approval[m]).days for m in first_pair]
    held = [s for s in data.sessions if s.held_on is not None and s.held_on <= as_of]
    recent = [s for s in held if s.held_on > as_of - timedelta(days=30)]  # type: ignore[operator]
    goals_set = [g for g in data.goals if g.set_on <= as_of]
    achieved = [g for g in goals_set if g.achieved_on is not None and g.achieved_on <= as_of]
    answers = [a for a in data.answers if a.submitted_on <= as_of]
    scored = [a.nps for a in answers if a.nps is not None]
    if len(answers) < THRESHOLD:
        satisfaction = {"responses": None, "mean_rating": None, "nps": None, "suppressed": True}
    else:
        nps = None
        if len(scored) >= THRESHOLD:
            promoters = sum(1 for s in scored if s >= 9) / len(scored) * 100
            detractors = sum(1 for s in scored if s <= 6) / len(scored) * 100
            nps = round(promoters - detractors, 1)
        satisfaction = {
            "responses": len(answers),
            "mean_rating": round(sum(a.rating for a in answers) / len(answers), 2),
            "nps": nps,
            "suppressed": False,
        }
    kpis = {
        "participants": {"mentors": len(mentors), "mentees": len(mentees)},
        "pairs": {"formed": len(formed), "active": len(active), "ended": len(ended)},
        "match_rate": round(len(first_pair) / len(mentees), 4) if mentees else None,
        "median_days_to_match": round(float(statistics.median(days)), 1) if days else None,
        "sessions": {
            "held": len(held),
            "per_active_pair_per_month": round(len(recent) / len(active), 2) if active else None,
            "mean_minutes": round(sum(s.minutes for s in held) / len(held), 1) if held else None,
        },
        "goals": {
            "set": len(goals_set),
            "achieved": len(achieved),
            "achievement_rate": round(len(achieved) / len(goals_set), 4) if goals_set else None,
        },
        "satisfaction": satisfaction,
    }
    retention = expected_retention(data, as_of, 365)
    mentee_rate = retention["mentees"]["rate"]  # type: ignore[index]
    others_rate = retention["non_participants"]["rate"]  # type: ignore[index]
    uplift = (
        None if mentee_rate is None or others_rate is None else round(mentee_rate - others_rate, 4)
    )
    actuals = {
        "match_rate": kpis["match_rate"],
        "median_days_to_match": kpis["median_days_to_match"],
        "nps": satisfaction["nps"],
        "mentee_retention_12m": uplift,
        "sessions_per_active_pair_per_month": kpis["sessions"]["per_active_pair_per_month"],  # type: ignore[index]
        "made_up_metric": None,
    }
    lower_is_better = {"median_days_to_match"}
    kpis["targets"] = [
        {
            "metric": metric,
            "target": target,
            "actual": actuals[metric],
            "met": None
            if actuals[metric] is None
            else (
                actuals[metric] <= target
                if metric in lower_is_better
                else actuals[metric] >= target
            ),
        }
        for metric, target in TARGETS.items()
    ]
    return kpis


def expected_at_risk(data: Dataset, as_of: date) -> list[dict[str, object]]:
    answers_of: dict[str, list[Answer]] = {}
    for a in data.answers:
        if a.submitted_on <= as_of:
            answers_of.setdefault(a.pair_id, []).append(a)
    items = []
    for p in sorted(data.pairs, key=lambda p: p.pair_id):
        if (
            p.formed_on is None
            or p.formed_on > as_of
            or (p.ended_on is not None and p.ended_on <= as_of)
        ):
            continue
        held = [
            s.held_on
            for s in data.sessions
            if s.pair_id == p.pair_id and s.held_on and s.held_on <= as_of
        ]
        last = max(held) if held else None
        reasons = []
        if last is not None and (as_of - last).days > 2 * CADENCE:
            reasons.append("no_recent_session")
        if last is None and (as_of - p.formed_on).days > 2 * CADENCE:
            reasons.append("no_session_yet")
        ratings = sorted(
            answers_of.get(p.pair_id, []), key=lambda a: (a.submitted_on, a.feedback_id)
        )
        if len(ratings) >= 2 and all(a.rating <= 2 for a in ratings[-2:]):
            reasons.append("low_ratings")
        if any(pid == p.pair_id and on <= as_of for pid, on in data.fit_failed):
            reasons.append("failed_fit_check")
        if reasons:
            items.append(
                {
                    "pair_id": p.pair_id,
                    "reasons": reasons,
                    "last_session_on": last.isoformat() if last else None,
                }
            )
    return items


def kpi_view(answer: dict[str, object]) -> dict[str, object]:
    """The API's answer restricted to the fields API.md defines (plus targets)."""
    view = {
        k: answer[k]
        for k in (
            "participants",
            "pairs",
            "match_rate",
            "median_days_to_match",
            "sessions",
            "goals",
        )
    }
    satisfaction = answer["satisfaction"]
    view["satisfaction"] = {
        k: satisfaction[k] for k in ("responses", "mean_rating", "nps", "suppressed")
    }  # type: ignore[index]
    view["targets"] = [
        {k: t[k] for k in ("metric", "target", "actual", "met")} for t in answer["targets"]
    ]  # type: ignore[union-attr]
    return view


# -- the test ------------------------------------------------------------------------------


async def all_pages(client, path: str, params: dict[str, str]) -> list[dict[str, object]]:
    items, cursor = [], None
    while True:
        query = {**params, "limit": "7", **({"cursor": cursor} if cursor else {})}
        answer = await client.get(path, params=query, headers=support.MANAGER)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        items.extend(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return items


@pytest.mark.postgres
async def test_every_figure_equals_its_independent_computation(pg_database_url, nats_server):
    data = build_dataset()
    log = dataset.history(data)
    # The history up to a cut point exists before analytics starts; the rest arrives live.
    before, after = support.EventLog(), support.EventLog()
    for service, events in log.events.items():
        cut = len(events) * 2 // 3
        before.events[service], after.events[service] = events[:cut], events[cut:]
    nc = await connect(nats_server.url, name="scenario")
    js = nc.jetstream()
    try:
        for service in log.events:
            await ensure_stream(js, service)
            await support.publish(js, service, before.of(service))
        async with support.running_app(pg_database_url, nats_server.url) as client:
            for service in log.events:
                await support.publish(js, service, after.of(service))

            async def caught_up() -> bool:
                states = await support.consumers(client)
                return all(states[s]["handled_events"] == len(log.of(s)) for s in log.events)

            await wait_until(caught_up, timeout=60, message="every event applied")
            for as_of in AS_OF_DATES:
                params = {"as_of": as_of.isoformat()}
                kpis = await client.get(
                    f"/v1/programs/{P1}/kpis", params=params, headers=support.MANAGER
                )
                assert kpis.status_code == 200, kpis.text
                assert kpi_view(kpis.json()) == expected_kpis(data, as_of), as_of
                for window_days in (365, 90):
                    retention = await client.get(
                        f"/v1/programs/{P1}/retention",
                        params={**params, "window_days": str(window_days)},
                        headers=support.MANAGER,
                    )
                    body = retention.json()
                    del body["program_id"], body["window_days"]
                    assert body == expected_retention(data, as_of, window_days), (
                        as_of,
                        window_days,
                    )
                    organisation = await client.get(
                        "/v1/organization/retention",
                        params={
                            **params,
                            "window_days": str(window_days),
                            "group_by": "department",
                        },
                        headers=support.ADMIN,
                    )
                    assert organisation.json()["groups"] == expected_organisation(
                        data, as_of, window_days
                    )
                at_risk = await all_pages(client, f"/v1/programs/{P1}/at-risk-pairs", params)
                assert at_risk == expected_at_risk(data, as_of), as_of
            # The default as_of is today: the service's, whichever side of midnight.
            with utc_days() as days:
                default = await client.get(f"/v1/programs/{P1}/kpis", headers=support.MANAGER)
            assert kpi_view(default.json()) in [expected_kpis(data, day) for day in days]
    finally:
        await nc.close()


def test_the_dataset_exercises_what_it_claims():
    """Guard against a seed that would make the scenario trivial."""
    data = build_dataset()
    expectations = [expected_kpis(data, d) for d in AS_OF_DATES]
    assert expectations[0]["satisfaction"]["suppressed"] is False  # type: ignore[index]
    assert expectations[2]["satisfaction"]["suppressed"] is True  # type: ignore[index]
    organisation = expected_organisation(data, TODAY, 365)
    assert any(g["participants"]["suppressed"] for g in organisation)  # type: ignore[index]
    assert any(not g["non_participants"]["suppressed"] for g in organisation)  # type: ignore[index]
    assert any(g["key"] is None for g in organisation)
    assert any(
        s.held_on and s.held_on < p.formed_on
        for s in data.sessions
        for p in data.pairs
        if s.pair_id == p.pair_id and p.formed_on
    )  # type: ignore[operator]
    assert len(expected_at_risk(data, TODAY)) >= 3
    reasons = {r for item in expected_at_risk(data, TODAY) for r in item["reasons"]}  # type: ignore[attr-defined]
    assert {"no_recent_session", "low_ratings", "failed_fit_check"} <= reasons
    assert any(t["met"] is True for t in expectations[0]["targets"])  # type: ignore[attr-defined]
    assert any(p.spells[0][1] and p.spells[0][1] > TODAY for p in data.people)  # type: ignore[operator]
