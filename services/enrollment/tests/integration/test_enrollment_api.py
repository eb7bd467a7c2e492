"""Programs and applications over HTTP, on SQLite and PostgreSQL, with a real nats-server."""

import uuid

import pytest
from conftest import (
    ADMIN,
    HRIS,
    MANAGER,
    bearer,
    open_program,
    program_body,
    put_employee,
    stored_events,
)


def problem_fields(response):
    assert response.headers["content-type"] == "application/problem+json"
    return [error["field"] for error in response.json().get("errors", [])]


def unique(prefix="e"):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def apply(client, program_id, employee_id, role="mentee", headers=ADMIN, **profile):
    return await client.post(
        f"/v1/programs/{program_id}/enrollments",
        json={"employee_id": employee_id, "role": role, "profile": profile},
        headers=headers,
    )


async def test_a_program_is_designed_opened_and_read(client):
    created = await client.post(
        "/v1/programs",
        json=program_body(eligibility={"departments": ["Engineering"]}, max_mentees=10),
        headers=MANAGER,
    )
    assert created.status_code == 201
    program = created.json()
    assert program["status"] == "draft"
    assert program["eligibility"]["departments"] == ["Engineering"]

    opened = await client.post(f"/v1/programs/{program['id']}/open", headers=MANAGER)
    renamed = await client.patch(
        f"/v1/programs/{program['id']}", json={"name": "Leadership 2"}, headers=MANAGER
    )
    fetched = await client.get(
        f"/v1/programs/{program['id']}", headers=bearer("participant", sub="x")
    )

    assert opened.json()["status"] == "open"
    assert renamed.json()["name"] == "Leadership 2"
    assert fetched.json() == {**renamed.json(), "status": "open"}


async def test_programs_are_listed_with_a_cursor(client):
    ids = [
        (await client.post("/v1/programs", json=program_body(name=f"P{i}"), headers=ADMIN)).json()[
            "id"
        ]
        for i in range(3)
    ]
    first = await client.get("/v1/programs?limit=2", headers=ADMIN)
    second = await client.get(
        f"/v1/programs?limit=2&cursor={first.json()['next_cursor']}", headers=ADMIN
    )
    listed = [p["id"] for p in first.json()["items"] + second.json()["items"]]
    assert listed == ids
    assert second.json()["next_cursor"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (program_body(name=""), "name"),
        (program_body(formats=["mentoring"]), "formats.0"),
        (program_body(cadence_days=0), "cadence_days"),
        (program_body(unknown=1), "unknown"),
        (program_body(starts_on="2025-02-01", ends_on="2025-01-01"), "ends_on"),
        (
            program_body(eligibility={"min_job_level": 5, "max_job_level": 2}),
            "eligibility.max_job_level",
        ),
    ],
)
async def test_a_bad_program_is_a_problem_naming_the_field(client, body, field):
    response = await client.post("/v1/programs", json=body, headers=ADMIN)
    assert response.status_code == 422
    assert field in problem_fields(response)


async def test_a_patch_that_breaks_a_rule_names_the_field(client):
    program_id = await open_program(client)
    response = await client.patch(
        f"/v1/programs/{program_id}", json={"ends_on": "2024-12-31"}, headers=ADMIN
    )
    assert response.status_code == 422
    assert problem_fields(response) == ["ends_on"]


async def test_unknown_programs_employees_and_enrollments_are_404(client):
    program_id = await open_program(client)
    missing = str(uuid.uuid4())
    responses = {
        "get program": await client.get(f"/v1/programs/{missing}", headers=ADMIN),
        "open program": await client.post(f"/v1/programs/{missing}/open", headers=ADMIN),
        "apply to program": await apply(client, missing, unique()),
        "apply as nobody": await apply(client, program_id, unique()),
        "approve": await client.post(f"/v1/enrollments/{missing}/approve", headers=ADMIN),
        "participants": await client.get(f"/v1/programs/{missing}/participants", headers=ADMIN),
    }
    assert {name: r.status_code for name, r in responses.items()} == dict.fromkeys(responses, 404)
    assert problem_fields(responses["apply as nobody"]) == ["employee_id"]


async def test_applying_twice_is_a_conflict_naming_the_first_enrollment(client, app):
    employee_id = unique()
    await put_employee(client, employee_id)
    program_id = await open_program(client)
    first = await apply(client, program_id, employee_id)
    second = await apply(client, program_id, employee_id)
    as_mentor = await apply(client, program_id, employee_id, role="mentor")

    assert first.status_code == 201
    assert second.status_code == 409
    assert second.json()["enrollment_id"] == first.json()["enrollment_id"]
    assert first.json()["enrollment_id"] in second.json()["detail"]
    assert as_mentor.status_code == 201
    assert len(await stored_events(app, f"enrollment-{first.json()['enrollment_id']}")) == 2


async def test_a_closed_program_refuses_applications(client):
    employee_id = unique()
    await put_employee(client, employee_id)
    program_id = await open_program(client)
    await client.post(f"/v1/programs/{program_id}/close", headers=ADMIN)
    response = await apply(client, program_id, employee_id)
    assert response.status_code == 409
    assert response.json()["program_status"] == "closed"


async def test_eligibility_rejects_with_reasons_and_auto_approval_enrolls(client):
    program_id = await open_program(
        client, eligibility={"departments": ["Sales"], "min_job_level": 4}
    )
    eligible, ineligible = unique(), unique()
    await put_employee(client, eligible, department="sales", job_level=5)
    await put_employee(client, ineligible, department="Engineering", job_level=2)

    admitted = await apply(client, program_id, eligible)
    refused = await apply(client, program_id, ineligible)

    assert admitted.status_code == 201
    assert (admitted.json()["status"], admitted.json()["reasons"]) == ("enrolled", [])
    assert refused.status_code == 201
    assert refused.json()["status"] == "rejected"
    assert refused.json()["reasons"] == [
        "department 'Engineering' is not eligible (eligible: Sales)",
        "job level 2 is below the minimum 4",
    ]


async def test_manual_approval_waitlist_and_decisions(client):
    program_id = await open_program(client, approval="manual", max_mentees=1)
    first, second, third = unique(), unique(), unique()
    for employee_id in (first, second, third):
        await put_employee(client, employee_id)

    pending = (await apply(client, program_id, first)).json()
    assert pending["status"] == "pending_approval"
    approved = await client.post(
        f"/v1/enrollments/{pending['enrollment_id']}/approve", headers=MANAGER
    )
    waiting = (await apply(client, program_id, second)).json()
    blocked = await client.post(
        f"/v1/enrollments/{waiting['enrollment_id']}/approve", headers=MANAGER
    )
    left = await client.post(
        f"/v1/enrollments/{pending['enrollment_id']}/withdraw", headers=MANAGER
    )
    promoted = await client.post(
        f"/v1/enrollments/{waiting['enrollment_id']}/approve", headers=MANAGER
    )
    other = (await apply(client, program_id, third)).json()
    rejected = await client.post(
        f"/v1/enrollments/{other['enrollment_id']}/reject",
        json={"reasons": ["no places this year"]},
        headers=MANAGER,
    )

    assert approved.json()["status"] == "enrolled"
    assert waiting["status"] == "waitlisted"
    assert blocked.status_code == 409
    assert left.json()["status"] == "withdrawn"
    assert promoted.json()["status"] == "enrolled"
    assert rejected.json()["status"] == "rejected"
    assert rejected.json()["reasons"] == ["no places this year"]


async def test_participants_act_only_for_themselves(client):
    me, someone_else = unique(), unique()
    await put_employee(client, me)
    await put_employee(client, someone_else)
    program_id = await open_program(client)
    mine = bearer("participant", sub=me)

    own = await apply(client, program_id, me, headers=mine)
    theirs = await apply(client, program_id, someone_else, headers=mine)
    other_enrollment = (await apply(client, program_id, someone_else)).json()["enrollment_id"]
    withdraw_theirs = await client.post(
        f"/v1/enrollments/{other_enrollment}/withdraw", headers=mine
    )
    read_theirs = await client.get(f"/v1/enrollments/{other_enrollment}", headers=mine)
    list_participants = await client.get(f"/v1/programs/{program_id}/participants", headers=mine)
    approve_own = await client.post(
        f"/v1/enrollments/{own.json()['enrollment_id']}/approve", headers=mine
    )
    read_own = await client.get(f"/v1/enrollments/{own.json()['enrollment_id']}", headers=mine)
    withdraw_own = await client.post(
        f"/v1/enrollments/{own.json()['enrollment_id']}/withdraw", headers=mine
    )

    assert own.status_code == 201
    assert [r.status_code for r in (theirs, withdraw_theirs, read_theirs)] == [403, 403, 403]
    assert [r.status_code for r in (list_participants, approve_own)] == [403, 403]
    assert read_own.status_code == 200
    assert withdraw_own.json()["status"] == "withdrawn"


async def test_roles_guard_programs(client):
    hris = await client.post("/v1/programs", json=program_body(), headers=HRIS)
    anonymous = await client.post("/v1/programs", json=program_body())
    assert hris.status_code == 403
    assert hris.json()["required_roles"] == ["admin", "program_manager"]
    assert anonymous.status_code == 401


async def test_a_profile_change_is_kept_and_a_mentee_states_no_capacity(client):
    employee_id = unique()
    await put_employee(client, employee_id)
    program_id = await open_program(client)
    mentor = (
        await apply(client, program_id, employee_id, role="mentor", skills_offered=["go"])
    ).json()
    bad_capacity = await client.patch(
        f"/v1/enrollments/{mentor['enrollment_id']}/profile",
        json={"skills_offered": ["go"], "capacity": 9},
        headers=bearer("participant", sub=employee_id),
    )
    changed = await client.patch(
        f"/v1/enrollments/{mentor['enrollment_id']}/profile",
        json={"skills_offered": ["go", "rust"], "capacity": 2},
        headers=bearer("participant", sub=employee_id),
    )
    mentee_capacity = await apply(client, program_id, employee_id, capacity=2)

    assert mentor["profile"]["capacity"] == 3
    assert bad_capacity.status_code == 422
    assert problem_fields(bad_capacity) == ["profile.capacity"]
    assert changed.json()["profile"]["skills_offered"] == ["go", "rust"]
    assert mentee_capacity.status_code == 422
    assert problem_fields(mentee_capacity) == ["profile.capacity"]


async def test_participants_are_listed_by_role_and_status_with_a_cursor(client):
    program_id = await open_program(client, eligibility={"min_job_level": 3})
    people = [unique() for _ in range(5)]
    for index, employee_id in enumerate(people):
        await put_employee(client, employee_id, job_level=index + 1)
        await apply(client, program_id, employee_id)
    await apply(client, program_id, people[4], role="mentor")

    enrolled_mentees = await client.get(
        f"/v1/programs/{program_id}/participants?role=mentee&status=enrolled&limit=2",
        headers=MANAGER,
    )
    rest = await client.get(
        f"/v1/programs/{program_id}/participants?role=mentee&status=enrolled&limit=2"
        f"&cursor={enrolled_mentees.json()['next_cursor']}",
        headers=MANAGER,
    )
    rejected = await client.get(
        f"/v1/programs/{program_id}/participants?status=rejected", headers=MANAGER
    )
    bad_cursor = await client.get(
        f"/v1/programs/{program_id}/participants?cursor=nonsense", headers=MANAGER
    )

    pages = enrolled_mentees.json()["items"] + rest.json()["items"]
    assert [p["employee_id"] for p in pages] == people[2:]
    assert {p["employee_id"] for p in rejected.json()["items"]} == set(people[:2])
    assert bad_cursor.status_code == 400
    assert problem_fields(bad_cursor) == ["cursor"]


async def test_an_idempotency_key_replays_the_first_answer_and_refuses_another_body(client, app):
    employee_id, other = unique(), unique()
    await put_employee(client, employee_id)
    await put_employee(client, other)
    program_id = await open_program(client)
    headers = {**ADMIN, "Idempotency-Key": f"apply-{employee_id}"}
    body = {"employee_id": employee_id, "role": "mentee"}

    first = await client.post(f"/v1/programs/{program_id}/enrollments", json=body, headers=headers)
    replay = await client.post(f"/v1/programs/{program_id}/enrollments", json=body, headers=headers)
    reused = await client.post(
        f"/v1/programs/{program_id}/enrollments",
        json={"employee_id": other, "role": "mentee"},
        headers=headers,
    )

    assert first.status_code == replay.status_code == 201
    assert replay.content == first.content
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert reused.status_code == 422
    assert problem_fields(reused) == ["header/Idempotency-Key"]
    participants = await client.get(f"/v1/programs/{program_id}/participants", headers=ADMIN)
    assert [p["employee_id"] for p in participants.json()["items"]] == [employee_id]
