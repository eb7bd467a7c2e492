"""The analytics consumers fill the fact tables from the three streams; queries read them."""

from datetime import UTC, datetime, timedelta

import analytics_support as support
import pytest
from analytics_support import ADMIN, MANAGER, EventLog

from mentorship_contracts import enrollment as en
from mentorship_contracts import matching as ma
from mentorship_contracts import sessions as se
from mentorship_contracts.common import Profile
from mentorship_kit.messaging import connect
from mentorship_kit.testing import utc_days, wait_until

TODAY = datetime.now(UTC).date()


def program(program_id: str, *, cadence_days: int = 14) -> en.ProgramCreated:
    return en.ProgramCreated(
        program_id=program_id,
        settings=en.ProgramSettings(
            name="Leadership",
            objective="grow leaders",
            formats=["one_to_one"],
            tracks=["leadership"],
            starts_on=TODAY - timedelta(days=200),
            ends_on=None,
            cadence_days=cadence_days,
            mentor_capacity=2,
            approval="auto",
            kpi_targets=[en.KpiTarget(metric="match_rate", target=0.5)],
        ),
    )


def small_program(log: EventLog, program_id: str) -> None:
    """Two mentees, one mentor, one pair with a session and two low ratings."""
    log.add(program(program_id))
    for index, role in enumerate(["mentor", "mentee", "mentee"]):
        employee = f"{program_id}-e{index}"
        log.add(
            en.EmployeeProvisioned(
                employee_id=employee,
                record=en.EmployeeRecord(
                    email=f"{employee}@example.com",
                    given_name="A",
                    family_name="B",
                    department="Sales",
                    hired_on=TODAY - timedelta(days=900),
                ),
            )
        )
        log.add(
            en.ParticipantEnrolled(
                enrollment_id=f"{employee}-enr",
                program_id=program_id,
                employee_id=employee,
                role=role,
                profile=Profile(),
                enrolled_on=TODAY - timedelta(days=100),
            )
        )
    pair = {
        "pair_id": f"{program_id}-pair",
        "program_id": program_id,
        "mentor_id": f"{program_id}-e0",
        "mentee_id": f"{program_id}-e1",
    }
    log.add(ma.PairFormed(**pair, format="one_to_one", formed_on=TODAY - timedelta(days=90)))
    log.add(
        se.SessionLogged(
            session_id=f"{program_id}-s1",
            pair_id=pair["pair_id"],
            program_id=program_id,
            held_on=TODAY - timedelta(days=10),
            duration_minutes=45,
            topic_count=1,
        )
    )
    for n in range(2):
        log.add(
            se.FeedbackSubmitted(
                feedback_id=f"{program_id}-f{n}",
                pair_id=pair["pair_id"],
                program_id=program_id,
                respondent_id=pair["mentee_id"],
                respondent_role="mentee",
                kind="session",
                rating=2,
                nps=3,
                submitted_on=TODAY - timedelta(days=9 - n),
            )
        )


@pytest.fixture
async def client(database_url, nats_server):
    """The service, caught up with a small program published before it started."""
    log = EventLog()
    small_program(log, "p1")
    nc = await connect(nats_server.url, name="test")
    try:
        await support.publish_all(nc.jetstream(), log)
        async with support.running_app(database_url, nats_server.url) as client:

            async def caught_up():
                states = await support.consumers(client)
                return all(s["handled_events"] == len(log.of(src)) for src, s in states.items())

            await wait_until(caught_up, timeout=30, message="consumers caught up")
            yield client
    finally:
        await nc.close()


async def test_consumers_feed_the_read_models_and_the_kpis(client):
    kpis = await client.get("/v1/programs/p1/kpis", headers=MANAGER)
    at_risk = await client.get("/v1/programs/p1/at-risk-pairs", headers=ADMIN)
    csv = await client.get("/v1/programs/p1/at-risk-pairs", headers={**ADMIN, "Accept": "text/csv"})
    with utc_days() as days:  # the default as_of: the service's today
        months = await client.get("/v1/programs/p1/monthly", headers=MANAGER)

    assert kpis.status_code == 200, kpis.text
    body = kpis.json()
    assert body["participants"] == {"mentors": 1, "mentees": 2}
    assert body["pairs"] == {"formed": 1, "active": 1, "ended": 0}
    assert body["match_rate"] == 0.5
    assert body["median_days_to_match"] == 10.0
    assert body["sessions"] == {"held": 1, "per_active_pair_per_month": 1.0, "mean_minutes": 45.0}
    assert body["satisfaction"]["suppressed"] is True
    assert body["satisfaction"]["mean_rating"] is None
    assert body["targets"] == [
        {
            "metric": "match_rate",
            "target": 0.5,
            "actual": 0.5,
            "met": True,
            "higher_is_better": True,
        }
    ]
    assert at_risk.json() == {
        "items": [
            {
                "pair_id": "p1-pair",
                "reasons": ["low_ratings"],
                "last_session_on": (TODAY - timedelta(days=10)).isoformat(),
            }
        ],
        "next_cursor": None,
    }
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines() == [
        "pair_id,reasons,last_session_on",
        f"p1-pair,low_ratings,{(TODAY - timedelta(days=10)).isoformat()}",
    ]
    items = months.json()["items"]
    assert items[0]["month"] == (TODAY - timedelta(days=200)).strftime("%Y-%m")
    assert items[-1]["month"] in {day.strftime("%Y-%m") for day in days}
    assert sum(m["sessions_held"] for m in items) == 1


async def test_roles_errors_and_csv_exports(client):
    missing = await client.get("/v1/programs/nope/kpis", headers=ADMIN)
    forbidden = await client.get("/v1/organization/retention", headers=MANAGER)
    participant = await client.get(
        "/v1/programs/p1/kpis", headers=support.bearer("participant", sub="p1-e1")
    )
    anonymous = await client.get("/v1/programs/p1/kpis")
    bad_date = await client.get("/v1/programs/p1/kpis?as_of=0", headers=ADMIN)
    csv_of = {
        path: await client.get(path, headers={**ADMIN, "Accept": "text/csv"})
        for path in (
            "/v1/programs/p1/kpis",
            "/v1/programs/p1/retention",
            "/v1/organization/retention",
            "/v1/programs/p1/monthly",
        )
    }

    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert forbidden.status_code == 403
    assert participant.status_code == 403
    assert anonymous.status_code == 401
    assert bad_date.status_code == 422
    kpi_rows = csv_of["/v1/programs/p1/kpis"].text.splitlines()
    assert kpi_rows[0] == "metric,value"
    assert "participants.mentees,2" in kpi_rows
    assert "targets.match_rate.met,true" in kpi_rows
    assert csv_of["/v1/programs/p1/retention"].text.splitlines()[0] == (
        "group,headcount,retained,rate,suppressed,window_start,as_of"
    )
    assert csv_of["/v1/organization/retention"].text.splitlines()[1:] == [
        "Sales,participants,,,,true",
        "Sales,non_participants,,,,true",
    ]
    assert csv_of["/v1/programs/p1/monthly"].text.splitlines()[0].startswith("month,")
