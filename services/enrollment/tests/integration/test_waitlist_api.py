"""The waitlist moves on its own: a place freed by a withdrawal, a departure or a raised
cap goes to the first waitlisted mentee, in the same transaction, over HTTP, on SQLite
and PostgreSQL."""

import asyncio
import uuid

from conftest import ADMIN, HRIS, MANAGER, bearer, open_program, put_employee

SCIM_HRIS = {**HRIS, "Content-Type": "application/scim+json"}
SCIM_PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def unique(prefix="w"):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def enroll_mentees(client, program_id, count, **employee):
    """``count`` new employees applied as mentees, in this order; (employee, enrollment) ids."""
    applied = []
    for _ in range(count):
        employee_id = unique()
        await put_employee(client, employee_id, **employee)
        response = await client.post(
            f"/v1/programs/{program_id}/enrollments",
            json={"employee_id": employee_id, "role": "mentee"},
            headers=ADMIN,
        )
        assert response.status_code == 201, response.text
        applied.append((employee_id, response.json()["enrollment_id"], response.json()["status"]))
    return applied


async def statuses(client, enrollment_ids):
    found = []
    for enrollment_id in enrollment_ids:
        response = await client.get(f"/v1/enrollments/{enrollment_id}", headers=ADMIN)
        found.append(response.json()["status"])
    return found


async def listed(client, program_id, status):
    response = await client.get(
        f"/v1/programs/{program_id}/participants?role=mentee&status={status}", headers=MANAGER
    )
    assert response.status_code == 200, response.text
    return [item["enrollment_id"] for item in response.json()["items"]]


def counted(metrics_text, cause, outcome):
    for line in metrics_text.splitlines():
        if line.startswith("mentorship_enrollment_waitlist_promotions_total{") and (
            f'cause="{cause}"' in line and f'outcome="{outcome}"' in line
        ):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_a_withdrawal_enrolls_the_first_in_line_and_says_so_in_its_history(client):
    program_id = await open_program(client, max_mentees=1)
    (leaver, enrolled_id, _), *waiting = await enroll_mentees(client, program_id, 3)
    before = counted((await client.get("/metrics")).text, "withdrawal", "enrolled")

    left = await client.post(
        f"/v1/enrollments/{enrolled_id}/withdraw", headers=bearer("participant", sub=leaver)
    )

    assert left.status_code == 200, left.text
    assert [status for _, _, status in waiting] == ["waitlisted", "waitlisted"]
    first, second = (enrollment_id for _, enrollment_id, _ in waiting)
    assert await statuses(client, [enrolled_id, first, second]) == [
        "withdrawn",
        "enrolled",
        "waitlisted",
    ]
    assert await listed(client, program_id, "enrolled") == [first]
    history = (await client.get(f"/v1/enrollments/{first}/history", headers=ADMIN)).json()
    promotion = history["items"][-1]
    assert promotion["event_type"] == "ParticipantEnrolled"
    assert promotion["changes"]["from_waitlist"] is True
    # Recorded as done by whoever freed the place: the audit trail names the cause.
    assert (promotion["actor"], promotion["actor_role"]) == (leaver, "participant")
    after = counted((await client.get("/metrics")).text, "withdrawal", "enrolled")
    assert after == before + 1


async def test_the_promotion_is_published_like_any_enrollment(client, app):
    program_id = await open_program(client, max_mentees=1)
    (_, enrolled_id, _), (_, waiting_id, _) = await enroll_mentees(client, program_id, 2)

    await client.post(f"/v1/enrollments/{enrolled_id}/withdraw", headers=MANAGER)

    store = app.state.context.store
    async with store.engine.connect() as conn:
        events = await store.read_stream(conn, f"enrollment-{waiting_id}")
    assert [e.event_type for e in events] == [
        "ApplicationSubmitted",
        "ApplicationWaitlisted",
        "ParticipantEnrolled",
    ]
    assert events[-1].data["from_waitlist"] is True


async def test_a_departure_frees_the_place_for_the_next_in_line(client):
    program_id = await open_program(client, max_mentees=1)
    (leaver, enrolled_id, _), (_, waiting_id, _) = await enroll_mentees(client, program_id, 2)
    before = counted((await client.get("/metrics")).text, "departure", "enrolled")

    departed = await client.post(
        f"/v1/employees/{leaver}/departure",
        json={"left_on": "2026-01-31", "reason": "voluntary"},
        headers=HRIS,
    )

    assert departed.status_code == 200, departed.text
    assert await statuses(client, [enrolled_id, waiting_id]) == ["withdrawn", "enrolled"]
    assert counted((await client.get("/metrics")).text, "departure", "enrolled") == before + 1


async def test_a_scim_deactivation_frees_the_place_for_the_next_in_line(client):
    program_id = await open_program(client, max_mentees=1)
    (leaver, enrolled_id, _), (_, waiting_id, _) = await enroll_mentees(client, program_id, 2)

    deactivated = await client.patch(
        f"/scim/v2/Users/{leaver}",
        json={
            "schemas": [SCIM_PATCH],
            "Operations": [{"op": "Replace", "value": {"active": False}}],
        },
        headers=SCIM_HRIS,
    )

    assert deactivated.status_code == 200, deactivated.text
    assert await statuses(client, [enrolled_id, waiting_id]) == ["withdrawn", "enrolled"]


async def test_raising_then_removing_the_cap_enrolls_as_many_as_now_fit(client):
    program_id = await open_program(client, max_mentees=1)
    applied = await enroll_mentees(client, program_id, 5)
    ids = [enrollment_id for _, enrollment_id, _ in applied]

    raised = await client.patch(
        f"/v1/programs/{program_id}", json={"max_mentees": 3}, headers=MANAGER
    )
    after_raise = await statuses(client, ids)
    removed = await client.patch(
        f"/v1/programs/{program_id}", json={"max_mentees": None}, headers=MANAGER
    )

    assert raised.status_code == 200, raised.text
    assert after_raise == ["enrolled", "enrolled", "enrolled", "waitlisted", "waitlisted"]
    assert removed.status_code == 200, removed.text
    assert await statuses(client, ids) == ["enrolled"] * 5


async def test_a_waitlisted_mentee_the_current_rules_refuse_is_rejected_with_reasons(client):
    program_id = await open_program(client, max_mentees=1)
    (_, enrolled_id, _), (_, moved_id, _) = await enroll_mentees(client, program_id, 2)
    ((_, next_id, _),) = await enroll_mentees(client, program_id, 1, department="Sales")
    await client.patch(
        f"/v1/programs/{program_id}",
        json={"eligibility": {"departments": ["Sales"]}},
        headers=MANAGER,
    )

    await client.post(f"/v1/enrollments/{enrolled_id}/withdraw", headers=MANAGER)

    refused = (await client.get(f"/v1/enrollments/{moved_id}", headers=ADMIN)).json()
    assert refused["status"] == "rejected"
    assert "department 'Engineering' is not eligible" in refused["reasons"][0]
    assert await statuses(client, [next_id]) == ["enrolled"]


async def test_with_manual_approval_the_waitlist_waits_in_order_for_the_manager(client):
    program_id = await open_program(client, approval="manual", max_mentees=1)
    (_, pending_id, _), *waiting = await enroll_mentees(client, program_id, 1)
    await client.post(f"/v1/enrollments/{pending_id}/approve", headers=MANAGER)
    waiting = await enroll_mentees(client, program_id, 3)
    waiting_ids = [enrollment_id for _, enrollment_id, _ in waiting]

    await client.post(f"/v1/enrollments/{pending_id}/withdraw", headers=MANAGER)
    raised = await client.patch(
        f"/v1/programs/{program_id}", json={"max_mentees": 5}, headers=MANAGER
    )

    assert raised.status_code == 200
    assert await statuses(client, waiting_ids) == ["waitlisted"] * 3
    # The next in line is the first of the waitlisted listing.
    assert await listed(client, program_id, "waitlisted") == waiting_ids
    switched = await client.patch(
        f"/v1/programs/{program_id}", json={"approval": "auto"}, headers=MANAGER
    )
    assert switched.status_code == 200
    assert await statuses(client, waiting_ids) == ["enrolled"] * 3


async def test_concurrent_withdrawals_and_a_raised_cap_promote_each_once_and_never_overfill(
    client,
):
    places = 3
    program_id = await open_program(client, max_mentees=places)
    enrolled = await enroll_mentees(client, program_id, places)
    waiting = await enroll_mentees(client, program_id, 2 * places)
    waiting_ids = [enrollment_id for _, enrollment_id, _ in waiting]

    answers = await asyncio.gather(
        *(
            client.post(f"/v1/enrollments/{enrollment_id}/withdraw", headers=MANAGER)
            for _, enrollment_id, _ in enrolled
        ),
        client.patch(
            f"/v1/programs/{program_id}", json={"max_mentees": places + 1}, headers=MANAGER
        ),
    )

    assert [answer.status_code for answer in answers] == [200] * (places + 1)
    # First in line first: exactly the first four moved up (three freed places and one
    # new one), each once.
    assert await listed(client, program_id, "enrolled") == waiting_ids[: places + 1]
    assert await listed(client, program_id, "waitlisted") == waiting_ids[places + 1 :]
    for enrollment_id in waiting_ids[: places + 1]:
        history = (
            await client.get(f"/v1/enrollments/{enrollment_id}/history", headers=ADMIN)
        ).json()
        assert [i["event_type"] for i in history["items"]].count("ParticipantEnrolled") == 1
