"""POST /v1/employees/{id}/erasure: personal data shredded, history and facts kept."""

import json
import uuid

import sqlalchemy as sa
from conftest import ADMIN, HRIS, bearer, open_program, person, put_employee, stored_events

from mentorship_kit.personal import ERASURES

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
SCIM_HRIS = {**HRIS, "Content-Type": "application/scim+json"}


def unique(prefix="x"):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def every_table_text(app) -> str:
    """Every row of every table of the service database, as one text."""
    engine = app.state.context.engine
    metadata = app.state.context.store.metadata
    chunks = []
    async with engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in await conn.execute(sa.select(table)):
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        chunks.append(bytes(value).decode("utf-8", "replace"))
                    else:
                        chunks.append(json.dumps(value, default=str))
    return "\n".join(chunks)


async def test_erasure_shreds_personal_data_and_keeps_the_facts(app, client):
    employee_id = unique("erase")
    email = f"{employee_id}@example.com"
    given, family = f"Given{employee_id}", f"Family{employee_id}"
    await put_employee(client, employee_id, email=email, given_name=given, family_name=family)
    program_id = await open_program(client)
    applied = await client.post(
        f"/v1/programs/{program_id}/enrollments",
        json={"employee_id": employee_id, "role": "mentee"},
        headers=ADMIN,
    )
    assert applied.status_code == 201, applied.text
    departed = await client.post(
        f"/v1/employees/{employee_id}/departure",
        json={"left_on": "2025-06-30", "reason": "voluntary"},
        headers={**HRIS, "Idempotency-Key": unique("key")},
    )
    assert departed.status_code == 200
    assert given in await every_table_text(app)  # the read model and a stored answer
    before = ERASURES.labels("enrollment", "erased")._value.get()

    erased = await client.post(f"/v1/employees/{employee_id}/erasure", headers=ADMIN)

    assert erased.status_code == 200, erased.text
    body = erased.json()
    assert body["erased_on"] is not None
    assert (body["email"], body["given_name"], body["family_name"]) == (None, None, None)
    assert (body["status"], body["department"], body["left_on"]) == (
        "departed",
        "Engineering",
        "2025-06-30",
    )
    assert ERASURES.labels("enrollment", "erased")._value.get() == before + 1
    stored = await every_table_text(app)
    for secret in (email, given, family):
        assert secret not in stored
    read = await client.get(f"/v1/employees/{employee_id}", headers=ADMIN)
    assert read.json() == body
    history = (await client.get(f"/v1/employees/{employee_id}/history", headers=ADMIN)).json()
    assert [item["event_type"] for item in history["items"]][-1] == "EmployeeErased"
    assert history["items"][0]["changes"]["record"]["email"] is None
    for secret in (email, given, family):
        assert secret not in json.dumps(history)
    enrollment = await client.get(
        f"/v1/enrollments/{applied.json()['enrollment_id']}", headers=ADMIN
    )
    assert enrollment.json()["status"] == "withdrawn"  # the departure's withdrawal stays

    again = await client.post(f"/v1/employees/{employee_id}/erasure", headers=ADMIN)

    assert (again.status_code, again.json()) == (200, body)
    events = await stored_events(app, f"employee-{employee_id}")
    assert [e.event_type for e in events].count("EmployeeErased") == 1
    assert ERASURES.labels("enrollment", "already_erased")._value.get() >= 1


async def test_an_erased_employee_is_gone_from_scim_and_cannot_be_written_again(app, client):
    user_name = unique("scim")
    created = await client.post(
        "/scim/v2/Users",
        json={
            "schemas": [USER],
            "userName": user_name,
            "name": {"givenName": "Hedy", "familyName": "Lamarr"},
            "emails": [{"value": f"{user_name}@example.com", "type": "work"}],
            "active": True,
        },
        headers=SCIM_HRIS,
    )
    assert created.status_code == 201, created.text
    employee_id = created.json()["id"]

    assert (
        await client.post(f"/v1/employees/{employee_id}/erasure", headers=ADMIN)
    ).status_code == 200

    assert (await client.get(f"/scim/v2/Users/{employee_id}", headers=HRIS)).status_code == 404
    found = await client.get(
        "/scim/v2/Users", params={"filter": f'userName eq "{user_name}"'}, headers=HRIS
    )
    assert found.json()["totalResults"] == 0
    rewrite = await client.put(f"/v1/employees/{employee_id}", json=person(), headers=HRIS)
    assert rewrite.status_code == 409
    assert rewrite.headers["content-type"].startswith("application/problem+json")
    assert rewrite.json()["type"].endswith("employee-erased")
    batch = await client.post(
        "/v1/employees/batch",
        json={"employees": [{"employee_id": employee_id, **person()}]},
        headers=HRIS,
    )
    assert batch.json()["results"][0]["status"] == "error"
    assert "erased" in batch.json()["results"][0]["error"]
    departure = await client.post(
        f"/v1/employees/{employee_id}/departure",
        json={"left_on": "2025-07-01", "reason": "other"},
        headers=HRIS,
    )
    assert departure.status_code == 200  # a fact without personal data is still recorded
    # The same id cannot come back: a returning person gets a new employee id.
    again = await client.post(
        "/scim/v2/Users",
        json={"schemas": [USER], "userName": user_name, "active": True},
        headers=SCIM_HRIS,
    )
    assert again.status_code == 409, again.text


async def test_erasure_is_for_admins_and_known_employees_only(client):
    employee_id = unique("who")
    await put_employee(client, employee_id)
    for headers in (HRIS, bearer("program_manager"), bearer("participant", sub=employee_id)):
        refused = await client.post(f"/v1/employees/{employee_id}/erasure", headers=headers)
        assert refused.status_code == 403
    assert (await client.post(f"/v1/employees/{employee_id}/erasure")).status_code == 401

    missing = await client.post(f"/v1/employees/{unique('nobody')}/erasure", headers=ADMIN)

    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert (await client.get(f"/v1/employees/{employee_id}", headers=ADMIN)).json()["email"]
