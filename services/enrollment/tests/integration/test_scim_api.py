"""SCIM over the directory: identity mapping, deprovisioning, and errors in the SCIM schema."""

import uuid

import pytest
from conftest import ADMIN, HRIS, bearer, open_program, put_employee, stored_events

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
EMPLOYEE = "urn:mentorship:params:scim:schemas:extension:employee:2.0:User"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SCIM_HRIS = {**HRIS, "Content-Type": "application/scim+json"}


def unique(prefix="u"):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def scim_user(user_name, *, external_id=None, active=True, **extra):
    body = {
        "schemas": [USER, ENTERPRISE, EMPLOYEE],
        "userName": user_name,
        "name": {"givenName": "Grace", "familyName": "Hopper"},
        "emails": [{"value": f"{user_name}@example.com", "type": "work"}],
        "title": "Engineer",
        "active": active,
        ENTERPRISE: {"employeeNumber": "42", "department": "Engineering"},
        EMPLOYEE: {"jobLevel": 3, "location": "Arlington"},
        **extra,
    }
    if external_id is not None:
        body["externalId"] = external_id
    return body


def patch(*operations):
    return {"schemas": [PATCH], "Operations": list(operations)}


def scim_error(response, status):
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/scim+json"
    body = response.json()
    assert body["schemas"] == [ERROR]
    assert body["status"] == str(status)
    return body


async def test_a_user_becomes_an_employee_named_by_its_external_id(client):
    created = await client.post(
        "/scim/v2/Users",
        json=scim_user("grace@example.com", external_id="E-100"),
        headers=SCIM_HRIS,
    )
    employee = await client.get("/v1/employees/E-100", headers=HRIS)
    found = await client.get('/scim/v2/Users?filter=userName eq "GRACE@example.com"', headers=HRIS)

    assert created.status_code == 201
    assert created.headers["content-type"] == "application/scim+json"
    assert created.json()["id"] == "E-100"
    assert created.headers["location"].endswith("/scim/v2/Users/E-100")
    assert employee.json()["user_name"] == "grace@example.com"
    assert employee.json()["department"] == "Engineering"
    assert employee.json()["job_level"] == 3
    assert found.json()["totalResults"] == 1
    assert found.json()["Resources"][0]["id"] == "E-100"


async def test_rest_employees_are_found_by_their_id_as_user_name(client):
    employee_id = unique("e")
    await put_employee(client, employee_id, manager_id="boss-1")
    found = await client.get(f'/scim/v2/Users?filter=userName eq "{employee_id}"', headers=HRIS)
    (user,) = found.json()["Resources"]
    assert user["userName"] == employee_id
    assert user[ENTERPRISE]["manager"]["value"] == "boss-1"
    assert user["preferredLanguage"] == "en"


async def test_a_rise_in_job_level_over_scim_is_a_promotion(client, app):
    user_name = unique()
    await client.post("/scim/v2/Users", json=scim_user(user_name), headers=SCIM_HRIS)
    patched = await client.patch(
        f"/scim/v2/Users/{user_name}",
        json=patch({"op": "replace", "path": f"{EMPLOYEE}:jobLevel", "value": 5}),
        headers=SCIM_HRIS,
    )
    events = await stored_events(app, f"employee-{user_name}")
    assert patched.json()[EMPLOYEE]["jobLevel"] == 5
    assert [e.event_type for e in events][-2:] == ["EmployeeUpdated", "EmployeePromoted"]


async def test_deactivation_is_a_departure_that_withdraws_enrollments(client):
    user_name = unique()
    await client.post("/scim/v2/Users", json=scim_user(user_name), headers=SCIM_HRIS)
    program_id = await open_program(client)
    enrollment = await client.post(
        f"/v1/programs/{program_id}/enrollments",
        json={"employee_id": user_name, "role": "mentee"},
        headers=ADMIN,
    )
    deactivated = await client.patch(
        f"/scim/v2/Users/{user_name}",
        json=patch({"op": "Replace", "value": {"active": False}}),
        headers=SCIM_HRIS,
    )
    employee = await client.get(f"/v1/employees/{user_name}", headers=HRIS)
    withdrawn = await client.get(
        f"/v1/enrollments/{enrollment.json()['enrollment_id']}", headers=ADMIN
    )
    reactivated = await client.put(
        f"/scim/v2/Users/{user_name}", json=scim_user(user_name, active=True), headers=SCIM_HRIS
    )

    assert deactivated.json()["active"] is False
    assert (employee.json()["status"], employee.json()["departure_reason"]) == ("departed", "other")
    assert (withdrawn.json()["status"], withdrawn.json()["withdrawal_reason"]) == (
        "withdrawn",
        "departure",
    )
    assert reactivated.json()["active"] is True


async def test_delete_deprovisions_and_a_new_post_brings_the_employee_back(client, app):
    user_name = unique()
    await client.post("/scim/v2/Users", json=scim_user(user_name), headers=SCIM_HRIS)
    deleted = await client.delete(f"/scim/v2/Users/{user_name}", headers=HRIS)
    gone = await client.get(f"/scim/v2/Users/{user_name}", headers=HRIS)
    listed = await client.get(f'/scim/v2/Users?filter=userName eq "{user_name}"', headers=HRIS)
    history = await client.get(f"/v1/employees/{user_name}", headers=HRIS)
    back = await client.post("/scim/v2/Users", json=scim_user(user_name), headers=SCIM_HRIS)

    assert deleted.status_code == 204
    scim_error(gone, 404)
    assert listed.json()["totalResults"] == 0
    assert history.json()["status"] == "departed"
    assert back.status_code == 201
    assert back.json()["active"] is True
    events = [e.event_type for e in await stored_events(app, f"employee-{user_name}")]
    assert events == ["EmployeeProvisioned", "EmployeeDeparted", "EmployeeReinstated"]


async def test_entra_style_manager_and_email_paths_are_understood(client):
    user_name = unique()
    await client.post("/scim/v2/Users", json=scim_user(user_name), headers=SCIM_HRIS)
    response = await client.patch(
        f"/scim/v2/Users/{user_name}",
        json=patch(
            {"op": "Add", "path": f"{ENTERPRISE}:manager", "value": "boss-7"},
            {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "new@example.com"},
        ),
        headers=SCIM_HRIS,
    )
    employee = await client.get(f"/v1/employees/{user_name}", headers=HRIS)
    assert response.status_code == 200, response.text
    assert (employee.json()["manager_id"], employee.json()["email"]) == (
        "boss-7",
        "new@example.com",
    )


async def test_a_taken_user_name_is_a_uniqueness_error(client):
    user_name = unique()
    await client.post("/scim/v2/Users", json=scim_user(user_name), headers=SCIM_HRIS)
    same_id = await client.post("/scim/v2/Users", json=scim_user(user_name), headers=SCIM_HRIS)
    same_name = await client.post(
        "/scim/v2/Users",
        json=scim_user(user_name.upper(), external_id=unique("x")),
        headers=SCIM_HRIS,
    )
    assert scim_error(same_id, 409)["scimType"] == "uniqueness"
    assert scim_error(same_name, 409)["scimType"] == "uniqueness"


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), ({"Authorization": "Bearer not-a-jwt"}, 401), (bearer("program_manager"), 403)],
)
async def test_auth_failures_are_scim_errors(client, headers, status):
    scim_error(await client.get("/scim/v2/Users", headers=headers), status)


async def test_bad_requests_are_scim_errors(client):
    not_json = await client.post("/scim/v2/Users", content=b"{", headers=SCIM_HRIS)
    no_user_name = await client.post(
        "/scim/v2/Users", json={"schemas": [USER], "active": True}, headers=SCIM_HRIS
    )
    bad_filter = await client.get('/scim/v2/Users?filter=userName eq "unterminated', headers=HRIS)
    bad_id = await client.post("/scim/v2/Users", json=scim_user("has space"), headers=SCIM_HRIS)
    missing = await client.put(f"/scim/v2/Users/{unique()}", json=scim_user("x"), headers=SCIM_HRIS)
    wrong_method = await client.delete("/scim/v2/ServiceProviderConfig", headers=HRIS)

    assert scim_error(not_json, 400)["scimType"] == "invalidSyntax"
    scim_error(no_user_name, 400)
    assert scim_error(bad_filter, 400)["scimType"] == "invalidFilter"
    assert scim_error(bad_id, 400)["scimType"] == "invalidValue"
    scim_error(missing, 404)
    scim_error(wrong_method, 405)


async def test_discovery_describes_what_the_directory_stores(client):
    config = await client.get("/scim/v2/ServiceProviderConfig", headers=HRIS)
    types = await client.get("/scim/v2/ResourceTypes", headers=HRIS)
    schemas = await client.get("/scim/v2/Schemas", headers=HRIS)
    enterprise = await client.get(f"/scim/v2/Schemas/{ENTERPRISE}", headers=HRIS)

    assert config.json()["patch"]["supported"] is True
    (user_type,) = types.json()["Resources"]
    assert [e["schema"] for e in user_type["schemaExtensions"]] == [ENTERPRISE, EMPLOYEE]
    assert {s["id"] for s in schemas.json()["Resources"]} == {USER, ENTERPRISE, EMPLOYEE}
    assert [a["name"] for a in enterprise.json()["attributes"]] == [
        "employeeNumber",
        "department",
        "manager",
    ]
