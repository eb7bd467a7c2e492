"""Audit history: every change of a program, employee or enrollment, with who made it."""

import uuid

from conftest import bearer, program_body, put_employee

ADMIN = bearer("admin", sub="admin-ada")
MANAGER = bearer("program_manager", sub="pm-grace")


async def test_a_programs_history_shows_each_change_with_who_made_it(client):
    created = await client.post("/v1/programs", json=program_body(), headers=ADMIN)
    program_id = created.json()["id"]
    await client.patch(f"/v1/programs/{program_id}", json={"cadence_days": 21}, headers=MANAGER)
    await client.post(f"/v1/programs/{program_id}/open", headers=MANAGER)
    await client.post(f"/v1/programs/{program_id}/close", headers=ADMIN)

    history = await client.get(f"/v1/programs/{program_id}/history", headers=MANAGER)

    assert history.status_code == 200, history.text
    items = history.json()["items"]
    assert [(i["event_type"], i["actor"], i["actor_role"]) for i in items] == [
        ("ProgramCreated", "admin-ada", "admin"),
        ("ProgramUpdated", "pm-grace", "program_manager"),
        ("ProgramOpened", "pm-grace", "program_manager"),
        ("ProgramClosed", "admin-ada", "admin"),
    ]
    assert items[1]["changes"]["settings"]["cadence_days"] == 21
    assert [i["version"] for i in items] == [1, 2, 3, 4]


async def test_history_access_follows_the_entity(client):
    employee_id = f"emp-{uuid.uuid4().hex[:8]}"
    await put_employee(client, employee_id)
    await put_employee(client, employee_id, job_level=4)
    created = await client.post("/v1/programs", json=program_body(), headers=ADMIN)
    program_id = created.json()["id"]
    await client.post(f"/v1/programs/{program_id}/open", headers=ADMIN)
    applied = await client.post(
        f"/v1/programs/{program_id}/enrollments",
        json={"employee_id": employee_id, "role": "mentee"},
        headers=bearer("participant", sub=employee_id),
    )
    enrollment_id = applied.json()["enrollment_id"]
    me = bearer("participant", sub=employee_id)
    someone_else = bearer("participant", sub="emp-other")

    own = await client.get(f"/v1/employees/{employee_id}/history", headers=me)
    enrollment = await client.get(f"/v1/enrollments/{enrollment_id}/history", headers=me)

    # A promotion is recorded right after the update that raised the level.
    assert [i["event_type"] for i in own.json()["items"]] == [
        "EmployeeProvisioned",
        "EmployeeUpdated",
        "EmployeePromoted",
    ]
    assert enrollment.status_code == 200
    assert enrollment.json()["items"][0]["actor"] == employee_id
    assert (
        await client.get(f"/v1/employees/{employee_id}/history", headers=someone_else)
    ).status_code == 403
    assert (
        await client.get(f"/v1/enrollments/{enrollment_id}/history", headers=someone_else)
    ).status_code == 403
    assert (await client.get(f"/v1/programs/{program_id}/history", headers=me)).status_code == 403
    assert (await client.get("/v1/programs/nope/history", headers=ADMIN)).status_code == 404
