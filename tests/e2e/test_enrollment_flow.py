"""Enrollment end to end, on PostgreSQL and a real nats-server.

1,000 employees arrive from the HRIS (200 through SCIM, 800 in one batch), a program
with eligibility rules and a mentee cap opens, 300 employees apply, and 20 of them
leave. Every decision is computed here independently from the rules; the participant
list must show exactly those decisions and the withdrawals; every event in the store
must reach the MENTORSHIP_ENROLLMENT stream on JetStream, with the same ids.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from enrollment.config import EnrollmentSettings
from enrollment.main import create_app
from mentorship_kit.auth import issue_dev_token
from mentorship_kit.messaging import stream_name
from mentorship_kit.projection import jetstream_events
from mentorship_kit.settings import DEFAULT_DEV_SECRET
from mentorship_kit.testing import wait_until

HRIS = {"Authorization": f"Bearer {issue_dev_token(DEFAULT_DEV_SECRET, role='hris')}"}
ADMIN = {"Authorization": f"Bearer {issue_dev_token(DEFAULT_DEV_SECRET, role='admin')}"}
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
EMPLOYEE = "urn:mentorship:params:scim:schemas:extension:employee:2.0:User"

DEPARTMENTS = ["Engineering", "Sales", "Finance", "Legal"]
ELIGIBLE_DEPARTMENTS = {"Engineering", "Sales"}
MIN_TENURE_DAYS = 180
LEVELS = (2, 6)
MAX_MENTEES = 25
DEADLINE_S = 240


def hire_date(today: date, rng: random.Random) -> date:
    # Far from the tenure threshold, so a date change mid-test decides nothing.
    return today - timedelta(days=rng.choice([30, 90, 400, 2000]))


def directory(today: date) -> list[dict]:
    rng = random.Random(2025)
    return [
        {
            "employee_id": f"emp-{index:04d}",
            "department": rng.choice(DEPARTMENTS),
            "job_level": rng.randint(0, 8),
            "hired_on": hire_date(today, rng),
        }
        for index in range(1000)
    ]


def scim_user(person: dict) -> dict:
    # SCIM carries no hire date: those employees are given one by the batch afterwards.
    return {
        "schemas": [USER, ENTERPRISE, EMPLOYEE],
        "userName": f"{person['employee_id']}@example.com",
        "externalId": person["employee_id"],
        "name": {"givenName": "Given", "familyName": person["employee_id"]},
        "emails": [{"value": f"{person['employee_id']}@example.com", "type": "work"}],
        "active": True,
        ENTERPRISE: {"department": person["department"], "employeeNumber": person["employee_id"]},
        EMPLOYEE: {"jobLevel": person["job_level"]},
    }


def batch_row(person: dict) -> dict:
    return {
        "employee_id": person["employee_id"],
        "email": f"{person['employee_id']}@example.com",
        "given_name": "Given",
        "family_name": person["employee_id"],
        "department": person["department"],
        "job_level": person["job_level"],
        "hired_on": person["hired_on"].isoformat(),
    }


def expected_reasons(person: dict, today: date) -> list[str]:
    """The program's rules, written out again here rather than imported."""
    reasons = []
    if person["department"] not in ELIGIBLE_DEPARTMENTS:
        reasons.append("department")
    if (today - person["hired_on"]).days < MIN_TENURE_DAYS:
        reasons.append("tenure")
    if not LEVELS[0] <= person["job_level"] <= LEVELS[1]:
        reasons.append("job level")
    return reasons


@pytest.fixture
async def client(pg_database_url, nats_server):
    settings = EnrollmentSettings(
        dev_mode=True,
        database_url=pg_database_url,
        nats_url=nats_server.url,
        log_level="WARNING",
        shutdown_timeout_seconds=5,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://enrollment.e2e", timeout=60
        ) as http:
            yield app, http


async def all_participants(http, program_id) -> list[dict]:
    items, cursor = [], None
    while True:
        query = f"?limit=100&cursor={cursor}" if cursor else "?limit=100"
        page = (
            await http.get(f"/v1/programs/{program_id}/participants{query}", headers=ADMIN)
        ).json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


async def test_enrollment_flow_reaches_jetstream(client):
    app, http = client
    started = time.monotonic()
    today = datetime.now(UTC).date()
    people = directory(today)

    await provision(http, people)
    program_id = await open_program(http, today)
    expected = await apply_all(http, program_id, people, today)

    # 20 departures among the live applicants (enrolled and waitlisted). A departing
    # enrolled mentee's place goes to the first still waiting (approval is automatic).
    live = sorted(e for e, status in expected.items() if status != "rejected")
    waiting = [e for e, status in expected.items() if status == "waitlisted"]
    mentors = set(list(expected)[:30])
    promoted = 0
    for employee_id in random.Random(11).sample(live, 20):
        left = await http.post(
            f"/v1/employees/{employee_id}/departure",
            json={"left_on": today.isoformat(), "reason": "voluntary"},
            headers=HRIS,
        )
        assert left.status_code == 200, left.text
        if employee_id in waiting:
            waiting.remove(employee_id)
        elif employee_id not in mentors and expected[employee_id] == "enrolled" and waiting:
            expected[waiting.pop(0)] = "enrolled"
            promoted += 1
        expected[employee_id] = "withdrawn"

    # The participant list shows every decision and every withdrawal.
    listed = await all_participants(http, program_id)
    assert {p["employee_id"]: p["status"] for p in listed} == expected
    withdrawn = [p for p in listed if p["status"] == "withdrawn"]
    assert len(withdrawn) == 20
    assert {p["withdrawal_reason"] for p in withdrawn} == {"departure"}

    assert promoted > 0  # the sample frees places: the waitlist moves
    await assert_every_event_on_jetstream(app, promoted)
    assert time.monotonic() - started < DEADLINE_S


async def provision(http, people) -> None:
    """200 over SCIM, then the batch job for all (hire dates for the SCIM ones)."""
    for person in people[:200]:
        created = await http.post(
            "/scim/v2/Users",
            json=scim_user(person),
            headers={**HRIS, "Content-Type": "application/scim+json"},
        )
        assert created.status_code == 201, created.text
    batch = await http.post(
        "/v1/employees/batch",
        json={"employees": [batch_row(person) for person in people]},
        headers={**HRIS, "Idempotency-Key": "directory-2025-06"},
    )
    statuses = [result["status"] for result in batch.json()["results"]]
    assert statuses[:200] == ["updated"] * 200
    assert statuses[200:] == ["created"] * 800


async def open_program(http, today) -> str:
    program = await http.post(
        "/v1/programs",
        json={
            "name": "Engineering and sales mentoring",
            "objective": "Keep our people",
            "formats": ["one_to_one"],
            "starts_on": today.isoformat(),
            "cadence_days": 14,
            "mentor_capacity": 2,
            "approval": "auto",
            "max_mentees": MAX_MENTEES,
            "eligibility": {
                "departments": sorted(ELIGIBLE_DEPARTMENTS),
                "min_tenure_days": MIN_TENURE_DAYS,
                "min_job_level": LEVELS[0],
                "max_job_level": LEVELS[1],
            },
        },
        headers=ADMIN,
    )
    program_id = program.json()["id"]
    assert (await http.post(f"/v1/programs/{program_id}/open", headers=ADMIN)).status_code == 200
    return program_id


async def apply_all(http, program_id, people, today) -> dict[str, str]:
    """300 applications (the first 30 as mentors); the expected decisions, computed here."""
    applicants = random.Random(7).sample(people, 300)
    expected: dict[str, str] = {}
    enrolled_mentees = 0
    for index, person in enumerate(applicants):
        role = "mentor" if index < 30 else "mentee"
        response = await http.post(
            f"/v1/programs/{program_id}/enrollments",
            json={"employee_id": person["employee_id"], "role": role},
            headers=ADMIN,
        )
        assert response.status_code == 201, response.text
        if expected_reasons(person, today):
            status = "rejected"
        elif role == "mentee" and enrolled_mentees >= MAX_MENTEES:
            status = "waitlisted"
        else:
            status = "enrolled"
            enrolled_mentees += role == "mentee"
        assert response.json()["status"] == status, (person, response.json())
        assert len(response.json()["reasons"]) == len(expected_reasons(person, today))
        expected[person["employee_id"]] = status
    assert enrolled_mentees == MAX_MENTEES
    assert "waitlisted" in expected.values()
    return expected


async def assert_every_event_on_jetstream(app, promoted: int) -> None:
    """Every stored event is on JetStream, once, with its id."""
    store = app.state.context.store
    stored = [event async for event in store.iterate_all()]
    # provisioned (SCIM) + hire dates (batch) + provisioned (batch) + program created and
    # opened + submitted and decided per application + departed and withdrew + promoted
    # off the waitlist.
    assert len(stored) == 200 + 200 + 800 + 2 + 300 * 2 + 20 * 2 + promoted
    js = app.state.context.js

    async def published() -> bool:
        info = await js.stream_info(stream_name("enrollment"))
        return info.state.messages >= len(stored)

    await wait_until(published, timeout=60, message="every event on JetStream")
    on_stream = [event.id async for event in jetstream_events(js, "enrollment")]
    assert len(on_stream) == len(stored)
    assert set(on_stream) == {str(event.event_id) for event in stored}
