"""The directory over HTTP: upserts, the batch import, departures and their cascade."""

import uuid

from conftest import ADMIN, HRIS, MANAGER, bearer, open_program, person, put_employee, stored_events


def unique(prefix="e"):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def event_types(events):
    return [event.event_type for event in events]


async def test_put_creates_then_updates_then_changes_nothing(client, app):
    employee_id = unique()
    created = await client.put(f"/v1/employees/{employee_id}", json=person(), headers=HRIS)
    updated = await client.put(
        f"/v1/employees/{employee_id}", json=person(title="Lead", job_level=4), headers=HRIS
    )
    unchanged = await client.put(
        f"/v1/employees/{employee_id}", json=person(title="Lead", job_level=4), headers=ADMIN
    )
    events = await stored_events(app, f"employee-{employee_id}")

    assert [created.status_code, updated.status_code, unchanged.status_code] == [201, 200, 200]
    assert unchanged.json() == updated.json()
    assert updated.json()["status"] == "active"
    assert event_types(events) == ["EmployeeProvisioned", "EmployeeUpdated", "EmployeePromoted"]
    assert events[1].data["changed"] == ["title", "job_level"]
    assert (events[2].data["from_level"], events[2].data["to_level"]) == (3, 4)


async def test_a_bad_record_is_a_problem_naming_the_field(client):
    bad_email = await client.put("/v1/employees/e-1", json=person(email="nope"), headers=HRIS)
    bad_id = await client.put("/v1/employees/bad%20id", json=person(), headers=HRIS)
    missing = await client.put("/v1/employees/e-1", json={"email": "a@b.c"}, headers=HRIS)

    assert bad_email.status_code == 422
    assert [e["field"] for e in bad_email.json()["errors"]] == ["email"]
    assert bad_id.status_code == 422
    assert [e["field"] for e in bad_id.json()["errors"]] == ["employee_id"]
    assert {e["field"] for e in missing.json()["errors"]} == {"given_name", "family_name"}


async def test_the_directory_belongs_to_the_hris_and_admins(client):
    employee_id = unique()
    await put_employee(client, employee_id)
    manager = await client.put(f"/v1/employees/{employee_id}", json=person(), headers=MANAGER)
    participant_reads_self = await client.get(
        f"/v1/employees/{employee_id}", headers=bearer("participant", sub=employee_id)
    )
    participant_reads_other = await client.get(
        f"/v1/employees/{employee_id}", headers=bearer("participant", sub="someone-else")
    )
    manager_reads = await client.get(f"/v1/employees/{employee_id}", headers=MANAGER)
    unknown = await client.get(f"/v1/employees/{unique()}", headers=HRIS)

    assert manager.status_code == 403
    assert participant_reads_self.status_code == 200
    assert participant_reads_other.status_code == 403
    assert manager_reads.status_code == 403
    assert unknown.status_code == 404


async def test_a_batch_stores_good_rows_and_reports_bad_ones_by_field(client, app):
    existing = unique()
    await put_employee(client, existing, job_level=2)
    fresh = unique()
    rows = [
        {"employee_id": fresh, **person()},
        {"employee_id": existing, **person(job_level=5)},
        {"employee_id": unique(), **person(email="not-an-email")},
        {"employee_id": "has space", **person()},
        {**person()},
        "not an object",
        {"employee_id": fresh, **person()},
        {"employee_id": existing, **person(job_level=5)},
    ]
    response = await client.post("/v1/employees/batch", json={"employees": rows}, headers=HRIS)
    results = response.json()["results"]

    assert response.status_code == 200
    assert [(r["status"], r["field"]) for r in results] == [
        ("created", None),
        ("updated", None),
        ("error", "email"),
        ("error", "employee_id"),
        ("error", "employee_id"),
        ("error", "row"),
        ("error", "employee_id"),
        ("error", "employee_id"),
    ]
    assert results[6]["error"] == "employee_id: appears earlier in this batch"
    assert event_types(await stored_events(app, f"employee-{fresh}")) == ["EmployeeProvisioned"]
    assert event_types(await stored_events(app, f"employee-{existing}"))[-2:] == [
        "EmployeeUpdated",
        "EmployeePromoted",
    ]
    again = await client.post("/v1/employees/batch", json={"employees": rows[:2]}, headers=HRIS)
    assert [r["status"] for r in again.json()["results"]] == ["unchanged", "unchanged"]


async def test_a_batch_has_at_most_10000_rows(client):
    rows = [{"employee_id": f"e{i}"} for i in range(10_001)]
    response = await client.post("/v1/employees/batch", json={"employees": rows}, headers=HRIS)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["employees"]


async def test_a_departure_withdraws_every_live_enrollment(client, app):
    employee_id = unique()
    await put_employee(client, employee_id)
    auto = await open_program(client)
    manual = await open_program(client, approval="manual")
    strict = await open_program(client, eligibility={"departments": ["Sales"]})
    enrollments = []
    for program_id, role in (
        (auto, "mentee"),
        (auto, "mentor"),
        (manual, "mentee"),
        (strict, "mentee"),
    ):
        response = await client.post(
            f"/v1/programs/{program_id}/enrollments",
            json={"employee_id": employee_id, "role": role},
            headers=ADMIN,
        )
        enrollments.append(response.json())

    departure = await client.post(
        f"/v1/employees/{employee_id}/departure",
        json={"left_on": "2025-06-30", "reason": "voluntary"},
        headers=HRIS,
    )
    repeated = await client.post(
        f"/v1/employees/{employee_id}/departure",
        json={"left_on": "2025-06-30", "reason": "voluntary"},
        headers=HRIS,
    )
    different = await client.post(
        f"/v1/employees/{employee_id}/departure",
        json={"left_on": "2025-07-01", "reason": "voluntary"},
        headers=HRIS,
    )
    statuses = [
        (await client.get(f"/v1/enrollments/{e['enrollment_id']}", headers=ADMIN)).json()
        for e in enrollments
    ]
    late = await client.post(
        f"/v1/programs/{auto}/enrollments",
        json={"employee_id": employee_id, "role": "mentee"},
        headers=ADMIN,
    )

    assert departure.status_code == 200
    assert (departure.json()["status"], departure.json()["left_on"]) == ("departed", "2025-06-30")
    assert repeated.status_code == 200
    assert different.status_code == 409
    assert [(s["status"], s["withdrawal_reason"]) for s in statuses] == [
        ("withdrawn", "departure"),
        ("withdrawn", "departure"),
        ("withdrawn", "departure"),
        ("rejected", None),
    ]
    assert late.json()["status"] == "rejected"
    employee_events = await stored_events(app, f"employee-{employee_id}")
    assert event_types(employee_events) == ["EmployeeProvisioned", "EmployeeDeparted"]
    withdrawal = (await stored_events(app, f"enrollment-{enrollments[0]['enrollment_id']}"))[-1]
    # The cascade is one command: the withdrawal was written by the departure's transaction.
    assert withdrawal.tx_id == employee_events[-1].tx_id
    assert withdrawal.metadata.correlation_id == employee_events[-1].metadata.correlation_id


async def test_departure_of_an_unknown_employee_is_404(client):
    response = await client.post(
        f"/v1/employees/{unique()}/departure",
        json={"left_on": "2025-06-30", "reason": "voluntary"},
        headers=HRIS,
    )
    bad_reason = await client.post(
        f"/v1/employees/{unique()}/departure",
        json={"left_on": "2025-06-30", "reason": "retired"},
        headers=HRIS,
    )
    assert response.status_code == 404
    assert bad_reason.status_code == 422
    assert [e["field"] for e in bad_reason.json()["errors"]] == ["reason"]
