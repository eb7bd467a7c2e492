"""Who may call what: every operation of the four services, called by every kind of
caller, against the intended table in docs/security.md.

The four services run in this process (each through its lifespan, on SQLite, with one
real nats-server carrying their events between them). A small world is made through
their own APIs first — a program, five employees, a pair, a mentor request, a session, a
goal — so that the checks of ownership have something to be checked against: the
"participant" column calls as the mentor of the pair (the mentor the request asks), the
"participant, outsider" column as another participant of the same program who is party
to none of it.

An outcome is "✓" (any answer but 401 or 403: 2xx, but also a 404 or a 409 after the
checks), 401 or 403. A 5xx is never right. Adding an endpoint without a row in the
table, or leaving a row for an endpoint that is gone, fails the first test.
"""

from __future__ import annotations

import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from mentorship_kit.testing import wait_until

sys.path.insert(0, str(Path(__file__).parent))
from authz_support import (
    ADMIN,
    HRIS,
    SECURITY_DOC,
    SERVICES,
    Caller,
    Operation,
    Outcome,
    People,
    build_app,
    callers,
    document_settings,
    participant,
    read_table,
    running_services,
    served_operations,
)

TODAY = datetime.now(UTC).date()


def _served() -> list[Operation]:
    operations: list[Operation] = []
    for service in SERVICES:
        operations += served_operations(service, build_app(service, document_settings(service)))
    return operations


def test_the_table_has_one_row_for_each_operation_and_no_other():
    table = read_table(SECURITY_DOC.read_text(encoding="utf-8"))
    served = set(_served())

    missing = [f"no row for {op} (decide who may call it)" for op in sorted(served - table.keys())]
    stale = [f"a row for {op}, which no service serves" for op in sorted(table.keys() - served)]

    assert not missing + stale, "docs/security.md is out of date:\n" + "\n".join(missing + stale)


# --- the world the calls are made in ------------------------------------------------


@dataclass
class World:
    people: People
    program_id: str
    owner_enrollment: str
    pair_id: str
    run_id: str
    request_id: str
    block_id: str
    session_id: str
    goal_id: str
    milestone_id: str
    read_model: str


def _person(employee_id: str, level: int) -> dict[str, Any]:
    return {
        "email": f"{employee_id}@example.com",
        "given_name": employee_id,
        "family_name": "Matrix",
        "department": "Engineering",
        "title": "Engineer",
        "job_level": level,
        "timezone": "Europe/Berlin",
        "languages": ["en"],
        "hired_on": "2020-01-01",
    }


def _program() -> dict[str, Any]:
    return {
        "name": "Authorization matrix",
        "objective": "Check who may call what",
        "formats": ["one_to_one", "self_directed"],
        "tracks": ["technical"],
        "starts_on": str(TODAY - timedelta(days=30)),
        "ends_on": str(TODAY + timedelta(days=335)),
        "cadence_days": 14,
        "mentor_capacity": 2,
        "approval": "auto",
    }


def _ok(response: httpx.Response, *statuses: int) -> dict[str, Any]:
    assert response.status_code in (statuses or (200, 201)), response.text
    body: dict[str, Any] = response.json()
    return body


async def _pool_holds(matching: httpx.AsyncClient, program_id: str, *employees: str) -> bool:
    answer = await matching.get(
        f"/v1/programs/{program_id}/pool", params={"limit": 100}, headers=ADMIN
    )
    if answer.status_code != 200:
        return False
    pooled = {item["employee_id"] for item in answer.json()["items"]}
    return pooled >= set(employees)


async def make_world(clients: dict[str, httpx.AsyncClient]) -> World:
    enrollment, matching, sessions = clients["enrollment"], clients["matching"], clients["sessions"]
    suffix = uuid.uuid4().hex[:8]
    people = People(
        owner=f"mentor-{suffix}",
        mentee=f"mentee-{suffix}",
        asker=f"asker-{suffix}",
        outsider=f"outsider-{suffix}",
        leaver=f"leaver-{suffix}",
    )
    # Enrollment: an open program, five employees; the mentor and a mentee join.
    program_id = _ok(await enrollment.post("/v1/programs", json=_program(), headers=ADMIN))["id"]
    _ok(await enrollment.post(f"/v1/programs/{program_id}/open", headers=ADMIN))
    levels = {people.owner: 6, people.mentee: 3, people.asker: 3, people.outsider: 3}
    for employee_id in (*levels, people.leaver):
        person = _person(employee_id, levels.get(employee_id, 3))
        _ok(await enrollment.put(f"/v1/employees/{employee_id}", json=person, headers=HRIS))

    async def apply(employee_id: str, role: str) -> str:
        body = {
            "employee_id": employee_id,
            "role": role,
            "profile": {"skills_offered": ["go"], "skills_sought": ["go"]},
        }
        path = f"/v1/programs/{program_id}/enrollments"
        answer = _ok(await enrollment.post(path, json=body, headers=participant(employee_id)))
        assert answer["status"] == "enrolled", answer
        return str(answer["enrollment_id"])

    owner_enrollment = await apply(people.owner, "mentor")
    await apply(people.mentee, "mentee")

    # Matching: the two are matched and the pair is formed at once.
    await wait_until(
        lambda: _pool_holds(matching, program_id, people.owner, people.mentee),
        timeout=30,
        message="the mentor and the mentee in matching's pool",
    )
    run = _ok(await matching.post(f"/v1/programs/{program_id}/match-runs", json={}, headers=ADMIN))
    assert [(p["mentor_id"], p["mentee_id"]) for p in run["proposals"]] == [
        (people.owner, people.mentee)
    ], run
    published = _ok(
        await matching.post(
            f"/v1/match-runs/{run['id']}/publish", json={"auto_accept": True}, headers=ADMIN
        )
    )
    pair_id = published["pairs"][0]["pair_id"]

    # Two more mentees join after the run; one asks the mentor for mentoring.
    await apply(people.asker, "mentee")
    await apply(people.outsider, "mentee")
    await wait_until(
        lambda: _pool_holds(matching, program_id, people.asker, people.outsider),
        timeout=30,
        message="the later mentees in matching's pool",
    )
    request = _ok(
        await matching.post(
            f"/v1/programs/{program_id}/mentor-requests",
            json={"mentor_ids": [people.owner]},
            headers=participant(people.asker),
        )
    )
    block = _ok(
        await matching.post(
            f"/v1/programs/{program_id}/blocked-pairs",
            json={"employee_ids": [people.leaver, people.owner], "reason": "matrix"},
            headers=ADMIN,
        )
    )

    # Sessions: the pair arrives; the mentor schedules a session and sets a goal.
    owner = participant(people.owner)

    async def pair_active() -> bool:
        # Auto-accepted pairs are proposed, then activated: two events, consumed in turn.
        response = await sessions.get(f"/v1/pairs/{pair_id}", headers=owner)
        return response.status_code == 200 and response.json()["status"] == "active"

    await wait_until(pair_active, timeout=30, message="the pair active in the sessions service")
    session = _ok(
        await sessions.post(
            f"/v1/pairs/{pair_id}/sessions",
            json={
                "status": "scheduled",
                "scheduled_for": (datetime.now(UTC) + timedelta(days=3)).isoformat(),
                "duration_minutes": 45,
            },
            headers=owner,
        )
    )
    goal = _ok(
        await sessions.post(
            f"/v1/pairs/{pair_id}/goals",
            json={"title": "Lead a design review", "milestones": [{"title": "Shadow one"}]},
            headers=owner,
        )
    )
    read_models = _ok(await clients["analytics"].get("/v1/admin/read-models", headers=ADMIN))
    return World(
        people=people,
        program_id=program_id,
        owner_enrollment=owner_enrollment,
        pair_id=pair_id,
        run_id=run["id"],
        request_id=request["request_id"],
        block_id=block["block_id"],
        session_id=session["session_id"],
        goal_id=goal["goal_id"],
        milestone_id=goal["milestones"][0]["milestone_id"],
        read_model=read_models["items"][0]["name"],
    )


# --- one request per operation ------------------------------------------------------


@dataclass(frozen=True)
class Call:
    path: str
    json: Any = None
    params: dict[str, str] | None = None


def path_values(world: World) -> dict[str, str]:
    """The value of each path parameter: the world's resources of the owner."""
    people = world.people
    return {
        "program_id": world.program_id,
        "employee_id": people.owner,
        "enrollment_id": world.owner_enrollment,
        "pair_id": world.pair_id,
        "run_id": world.run_id,
        "request_id": world.request_id,
        "block_id": world.block_id,
        "session_id": world.session_id,
        "goal_id": world.goal_id,
        "milestone_id": world.milestone_id,
        "name": world.read_model,
        "rebuild_id": str(uuid.uuid4()),
        "webhook_id": str(uuid.uuid4()),
        "delivery_id": "1",
        "dead_letter_id": "1",
        "resource_type_id": "User",
        "schema_id": "urn:ietf:params:scim:schemas:core:2.0:User",
        "path": "Groups",
    }


def bodies(world: World) -> dict[str, Any]:
    """Valid bodies, so that checks made after validation (whose resource, whose behalf)
    are reached; keyed by "service: METHOD path"."""
    people = world.people
    later = (datetime.now(UTC) + timedelta(days=7)).isoformat()
    profile = {"skills_offered": ["go"], "skills_sought": ["rust"]}
    return {
        "enrollment: POST /v1/programs": _program(),
        "enrollment: PATCH /v1/programs/{program_id}": {"name": "Renamed"},
        "enrollment: PUT /v1/employees/{employee_id}": _person(people.leaver, 3),
        "enrollment: POST /v1/employees/batch": {
            "employees": [{"employee_id": people.leaver, **_person(people.leaver, 3)}]
        },
        "enrollment: POST /v1/employees/{employee_id}/departure": {
            "left_on": str(TODAY),
            "reason": "voluntary",
        },
        "enrollment: POST /v1/programs/{program_id}/enrollments": {
            "employee_id": people.owner,
            "role": "mentee",
            "profile": profile,
        },
        "enrollment: POST /v1/enrollments/{enrollment_id}/reject": {"reasons": ["matrix"]},
        "enrollment: PATCH /v1/enrollments/{enrollment_id}/profile": profile,
        "matching: POST /v1/programs/{program_id}/match-runs": {"dry_run": True},
        "matching: POST /v1/programs/{program_id}/rematch": {"dry_run": True},
        "matching: POST /v1/match-runs/{run_id}/publish": {"auto_accept": False},
        "matching: POST /v1/pairs/{pair_id}/end": {"reason": "completed"},
        "matching: POST /v1/programs/{program_id}/mentor-requests": {
            "mentor_ids": [people.owner],
            "mentee_id": people.owner,
        },
        "matching: POST /v1/programs/{program_id}/blocked-pairs": {
            "employee_ids": [people.mentee, people.asker]
        },
        "sessions: POST /v1/pairs/{pair_id}/sessions": {
            "status": "held",
            "held_on": str(TODAY),
            "duration_minutes": 30,
        },
        "sessions: POST /v1/sessions/{session_id}/log": {
            "held_on": str(TODAY),
            "duration_minutes": 30,
        },
        "sessions: POST /v1/sessions/{session_id}/reschedule": {"scheduled_for": later},
        "sessions: POST /v1/pairs/{pair_id}/goals": {"title": "Give a talk"},
        "sessions: PATCH /v1/goals/{goal_id}": {"progress": 40},
        "sessions: POST /v1/goals/{goal_id}/milestones": {"title": "Draft the outline"},
        "sessions: POST /v1/pairs/{pair_id}/feedback": {"kind": "checkin", "rating": 4, "nps": 8},
        "sessions: POST /v1/pairs/{pair_id}/check-ins": {"relationship_quality": 4, "nps": 9},
        "sessions: POST /v1/pairs/{pair_id}/fit-check": {"fits": True},
        "analytics: POST /v1/webhooks": {
            "url": "http://127.0.0.1:9/hooks",
            "event_types": ["PairFormed"],
        },
        "analytics: PATCH /v1/webhooks/{webhook_id}": {"description": "matrix"},
    }


# Writes to the directory act on the leaver, so that the owner's record stays as it is.
_ON_THE_LEAVER = (
    "PUT /v1/employees/{employee_id}",
    "POST /v1/employees/{employee_id}/departure",
    "PUT /scim/v2/Users/{employee_id}",
    "PATCH /scim/v2/Users/{employee_id}",
    "DELETE /scim/v2/Users/{employee_id}",
)


def call_for(operation: Operation, world: World) -> Call:
    values = path_values(world)
    if operation.key in _ON_THE_LEAVER:
        values["employee_id"] = world.people.leaver
    path = operation.path.format(**values)
    params = {"a": world.run_id, "b": world.run_id} if path == "/v1/match-runs/compare" else None
    return Call(path, bodies(world).get(str(operation)), params)


def _reads_first(operation: Operation) -> bool:
    """Sort key: reads before writes, so that reads see the world as it was made."""
    return operation.method != "GET"


async def listed(matching: httpx.AsyncClient, world: World, headers: dict[str, str]) -> set[str]:
    """The pairs and mentor requests of the program that ``headers`` is shown."""
    ids: set[str] = set()
    for kind, key in (("pairs", "pair_id"), ("mentor-requests", "request_id")):
        answer = _ok(await matching.get(f"/v1/programs/{world.program_id}/{kind}", headers=headers))
        ids |= {item[key] for item in answer["items"]}
    return ids


async def test_every_caller_gets_what_the_table_says(tmp_path, nats_server):
    table = read_table(SECURITY_DOC.read_text(encoding="utf-8"))
    mismatches: list[str] = []
    async with running_services(tmp_path, nats_server.url) as clients:
        world = await make_world(clients)
        headers = callers(world.people)
        # The lists a participant may call show the participant's own items only.
        mine = await listed(clients["matching"], world, headers[Caller.PARTICIPANT])
        assert mine == {world.pair_id, world.request_id}
        assert await listed(clients["matching"], world, headers[Caller.OUTSIDER]) == set()
        for service in SERVICES:
            operations = [op for op in table if op.service == service]
            operations.sort(key=_reads_first)
            for operation in operations:
                call = call_for(operation, world)
                for caller in Caller:
                    answer = await clients[service].request(
                        operation.method,
                        call.path,
                        json=call.json,
                        params=call.params,
                        headers=headers[caller],
                    )
                    row = table[operation]
                    expected = row.outcomes[caller]
                    got = Outcome.of(answer.status_code)
                    if answer.status_code >= 500 or got is not expected:
                        mismatches.append(
                            f"docs/security.md:{row.line} {operation} as {caller}: expected "
                            f"{expected}, got {answer.status_code} {answer.text[:160]}"
                        )
    assert not mismatches, f"{len(mismatches)} calls disagree with docs/security.md:\n" + "\n".join(
        mismatches
    )
