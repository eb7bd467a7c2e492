"""Match runs over the API, on SQLite and PostgreSQL: explained proposals, reasons for
the unmatched, the bad-input answers of issue 4, publishing once and only while fresh."""

import math

import pytest
from matching_support import ADMIN, HRIS, MANAGER, Harness, participant, unique


async def small_program(service: Harness, *, capacity: int = 1) -> dict[str, str]:
    """Two mentors, three mentees; mentee c reports to mentor y (never paired)."""
    pool = service.enrollment()
    program_id = await pool.program(capacity=capacity)
    ids = {"program": program_id}
    for key, role, kwargs in [
        ("x", "mentor", {"offered": ["python", "sql"], "job_level": 6}),
        ("y", "mentor", {"offered": ["design"], "job_level": 6, "department": "Design"}),
        ("a", "mentee", {"sought": ["python"], "job_level": 3}),
        ("b", "mentee", {"sought": ["design"], "job_level": 3, "department": "Design"}),
        ("c", "mentee", {"sought": ["design"], "job_level": 3}),
    ]:
        ids[key] = unique(key)
        if key == "c":
            kwargs["manager_id"] = ids["y"]
        await pool.enroll(program_id, ids[key], role, **kwargs)
    return ids


def pairs_of(run: dict) -> set[tuple[str, str]]:
    return {(p["mentor_id"], p["mentee_id"]) for p in run["proposals"]}


async def test_a_dry_run_explains_every_proposal_and_every_unmatched_mentee(service):
    ids = await small_program(service)

    response = await service.run(ids["program"], breakdown_by="department")

    assert response.status_code == 201, response.text
    run = response.json()
    assert run["status"] == "completed"
    assert run["dry_run"] is True
    assert pairs_of(run) == {(ids["x"], ids["a"]), (ids["y"], ids["b"])}
    for proposal in run["proposals"]:
        contributions = [f["contribution"] for f in proposal["explanation"]]
        assert math.isclose(sum(contributions), proposal["score"], abs_tol=1e-9)
        assert all(
            math.isclose(f["weight"] * f["value"], f["contribution"], abs_tol=1e-12)
            for f in proposal["explanation"]
        )
    assert [u["employee_id"] for u in run["unmatched"]] == [ids["c"]]
    assert run["unmatched"][0]["reason"] in {"capacity_exhausted", "no_feasible_mentor"}
    metrics = run["metrics"]
    assert (metrics["matched"], metrics["unmatched"], metrics["mentees"]) == (2, 1, 3)
    assert math.isclose(metrics["coverage"], 2 / 3)
    assert metrics["capacity_used"] == 1.0
    assert {g["group"]: g["matched"] for g in run["breakdown"]} == {"Design": 1, "Engineering": 1}
    assert run["algorithm_version"].startswith("matching-engine/")
    assert run["weights"]["skills"] == 3.0

    stored = await service.client.get(f"/v1/match-runs/{run['id']}", headers=MANAGER)
    assert stored.status_code == 200
    assert stored.json() == run


async def test_reporting_lines_are_never_crossed_and_named_as_the_reason(service):
    ids = await small_program(service, capacity=2)
    pool = service.enrollment()
    report = unique("r")
    await pool.enroll(ids["program"], report, "mentee", sought=["design"], manager_id=ids["x"])
    await pool.withdraw(ids["program"], ids["y"], "mentor")

    run = (await service.run(ids["program"], objective="max_coverage")).json()

    assert (ids["x"], ids["c"]) in pairs_of(run)
    unmatched = {u["employee_id"]: u for u in run["unmatched"]}
    assert unmatched[report]["reason"] == "no_feasible_mentor"
    assert unmatched[report]["excluded_by"]["reporting_line"] == 1


async def test_an_unknown_weight_attribute_is_refused_naming_it(service):
    ids = await small_program(service)

    response = await service.run(ids["program"], weights={"skills": 2, "charisma": 5})

    assert response.status_code == 422
    problem = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert problem["errors"][0]["field"] == "weights.charisma"
    assert "charisma" in problem["detail"]
    assert problem["attribute"] == "charisma"


async def test_must_have_filters_and_numbers_weigh(service):
    ids = await small_program(service, capacity=2)

    strict = (await service.run(ids["program"], weights={"skills": "must_have"})).json()
    languages_only = (
        await service.run(ids["program"], weights={"skills": 0, "goals": 0, "languages": 10})
    ).json()

    assert strict["must_have"] == ["skills"]
    assert all(
        next(f for f in p["explanation"] if f["factor"] == "skills")["value"] > 0
        for p in strict["proposals"]
    )
    assert languages_only["weights"]["languages"] == 10.0


@pytest.mark.parametrize("state", ["draft", "closed"])
async def test_a_run_on_a_program_that_is_not_open_is_a_conflict(service, state):
    pool = service.enrollment()
    program_id = await pool.program(open_it=state != "draft")
    if state == "closed":
        await pool.close(program_id)

    response = await service.run(program_id)

    assert response.status_code == 409
    assert response.json()["program_status"] == state


async def test_unknown_program_and_unoffered_format(service):
    pool = service.enrollment()
    program_id = await pool.program(formats=["one_to_one"])

    missing = await service.run("no-such-program")
    peer = await service.run(program_id, format="peer")

    assert missing.status_code == 404
    assert peer.status_code == 409
    assert peer.json()["offered"] == ["one_to_one"]


async def test_only_staff_run_and_read_runs(service):
    ids = await small_program(service)
    run = (await service.run(ids["program"])).json()

    as_participant = await service.client.post(
        f"/v1/programs/{ids['program']}/match-runs", json={}, headers=participant(ids["a"])
    )
    as_hris = await service.client.get(f"/v1/match-runs/{run['id']}", headers=HRIS)
    anonymous = await service.client.get(f"/v1/match-runs/{run['id']}")

    assert as_participant.status_code == 403
    assert as_hris.status_code == 403
    assert anonymous.status_code == 401


async def test_publishing_proposes_pairs_once(service):
    ids = await small_program(service)
    run = (await service.run(ids["program"])).json()

    first = await service.publish(run["id"])
    again = await service.publish(run["id"])

    assert first.status_code == 200, first.text
    published = first.json()
    assert {(p["mentor_id"], p["mentee_id"]) for p in published["pairs"]} == pairs_of(run)
    assert {p["status"] for p in published["pairs"]} == {"proposed"}
    assert again.status_code == 409
    assert again.json()["type"].endswith("run-already-published")
    pairs = await service.client.get(
        f"/v1/programs/{ids['program']}/pairs?status=proposed", headers=ADMIN
    )
    assert len(pairs.json()["items"]) == 2
    stored = (await service.client.get(f"/v1/match-runs/{run['id']}", headers=ADMIN)).json()
    assert stored["status"] == "published"
    assert stored["auto_accept"] is False


async def test_a_run_is_stale_once_the_pool_changed(service):
    ids = await small_program(service)
    run = (await service.run(ids["program"])).json()
    await service.enrollment().enroll(ids["program"], unique("late"), "mentee", sought=["sql"])

    response = await service.publish(run["id"])

    assert response.status_code == 409
    assert response.json()["type"].endswith("run-stale")


async def test_publishing_one_run_makes_the_other_drafts_stale(service):
    ids = await small_program(service)
    first = (await service.run(ids["program"])).json()
    second = (await service.run(ids["program"], objective="max_coverage")).json()

    assert (await service.publish(first["id"])).status_code == 200
    assert (await service.publish(second["id"])).status_code == 409


async def test_a_run_that_is_not_a_dry_run_is_published_at_once(service):
    ids = await small_program(service)

    response = await service.run(ids["program"], dry_run=False, auto_accept=True)

    assert response.status_code == 201
    run = response.json()
    assert run["status"] == "published"
    assert run["auto_accept"] is True
    active = await service.client.get(
        f"/v1/programs/{ids['program']}/pairs?status=active", headers=ADMIN
    )
    assert {(p["mentor_id"], p["mentee_id"]) for p in active.json()["items"]} == pairs_of(run)
    assert (await service.publish(run["id"])).status_code == 409


async def test_active_pairs_use_up_capacity_and_are_never_repeated(service):
    ids = await small_program(service)
    await service.run(ids["program"], dry_run=False, auto_accept=True)

    again = (await service.run(ids["program"])).json()

    assert again["proposals"] == []
    assert [u["employee_id"] for u in again["unmatched"]] == [ids["c"]]
    assert again["metrics"]["slots_total"] == 0
    assert again["constraints"]["previous_pairs"] == 2


async def test_blocked_pairs_are_never_proposed(service):
    ids = await small_program(service)
    blocked = await service.client.post(
        f"/v1/programs/{ids['program']}/blocked-pairs",
        json={"employee_ids": [ids["a"], ids["x"]], "reason": "conflict of interest"},
        headers=MANAGER,
    )
    assert blocked.status_code == 201, blocked.text

    run = (await service.run(ids["program"], objective="max_coverage")).json()

    assert (ids["x"], ids["a"]) not in pairs_of(run)
    assert run["constraints"]["blocked_pairs"] == 1
    listed = await service.client.get(f"/v1/programs/{ids['program']}/blocked-pairs", headers=ADMIN)
    assert [b["employee_ids"] for b in listed.json()["items"]] == [sorted([ids["a"], ids["x"]])]
    block_id = blocked.json()["block_id"]
    unblocked = await service.client.delete(
        f"/v1/programs/{ids['program']}/blocked-pairs/{block_id}", headers=ADMIN
    )
    assert unblocked.status_code == 200
    assert (ids["x"], ids["a"]) in pairs_of((await service.run(ids["program"])).json())


async def test_two_runs_compare_side_by_side(service):
    ids = await small_program(service, capacity=2)
    a = (await service.run(ids["program"], breakdown_by="department")).json()
    b = (
        await service.run(
            ids["program"],
            objective="max_coverage",
            weights={"seniority": 0},
            breakdown_by="department",
        )
    ).json()

    response = await service.client.get(
        f"/v1/match-runs/compare?a={a['id']}&b={b['id']}", headers=ADMIN
    )

    assert response.status_code == 200, response.text
    comparison = response.json()
    assert comparison["a"]["id"] == a["id"]
    assert comparison["b"]["id"] == b["id"]
    assert {(p["mentor_id"], p["mentee_id"]) for p in comparison["only_in_b"]} == (
        pairs_of(b) - pairs_of(a)
    )
    assert [w["name"] for w in comparison["weights_changed"]] == ["seniority"]
    coverage = next(m for m in comparison["metrics"] if m["name"] == "coverage")
    assert math.isclose(coverage["delta"], b["metrics"]["coverage"] - a["metrics"]["coverage"])
    assert {g["group"] for g in comparison["breakdown"]} == {"Design", "Engineering"}
    assert comparison["same_algorithm_version"] is True
    missing = await service.client.get(f"/v1/match-runs/compare?a={a['id']}&b=nope", headers=ADMIN)
    assert missing.status_code == 404


async def test_runs_are_listed_without_their_proposals(service):
    ids = await small_program(service)
    first = (await service.run(ids["program"])).json()
    second = (await service.run(ids["program"])).json()

    page = await service.client.get(
        f"/v1/programs/{ids['program']}/match-runs?limit=1", headers=ADMIN
    )
    rest = await service.client.get(
        f"/v1/programs/{ids['program']}/match-runs?cursor={page.json()['next_cursor']}",
        headers=ADMIN,
    )

    assert [r["id"] for r in page.json()["items"]] == [first["id"]]
    assert [r["id"] for r in rest.json()["items"]] == [second["id"]]
    assert "proposals" not in page.json()["items"][0]
    assert rest.json()["next_cursor"] is None


async def test_an_idempotency_key_replays_the_run(service):
    ids = await small_program(service)
    key = {"Idempotency-Key": unique("key"), **ADMIN}
    path = f"/v1/programs/{ids['program']}/match-runs"

    first = await service.client.post(path, json={"objective": "stable"}, headers=key)
    replay = await service.client.post(path, json={"objective": "stable"}, headers=key)
    reused = await service.client.post(path, json={"objective": "max_score"}, headers=key)

    assert first.status_code == replay.status_code == 201
    assert replay.json()["id"] == first.json()["id"]
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert reused.status_code == 422
    listed = await service.client.get(path, headers=ADMIN)
    assert len(listed.json()["items"]) == 1


async def test_group_and_peer_formats(service):
    pool = service.enrollment()
    program_id = await pool.program(capacity=3)
    mentor = unique("lead")
    await pool.enroll(program_id, mentor, "mentor", offered=["python"], job_level=6)
    mentees = [unique("m") for _ in range(3)]
    for mentee in mentees:
        await pool.enroll(program_id, mentee, "mentee", sought=["python"])

    group = (await service.run(program_id, format="group", group_size=2)).json()
    peers = (await service.run(program_id, format="peer", objective="max_coverage")).json()

    assert len(group["proposals"]) == 2
    assert len({p["group_id"] for p in group["proposals"]}) == 1
    assert group["proposals"][0]["group_id"] is not None
    assert peers["format"] == "peer"
    assert len(peers["proposals"]) == 2  # four people, two peer pairs
