"""Self-directed matching over the API, on SQLite and PostgreSQL: ranked requests,
answers, expiry with a moved clock, cascades, and what leaving does to a request."""

import math
from datetime import timedelta

from matching_support import ADMIN, MANAGER, Harness, participant, unique

from mentorship_kit.testing import wait_until


async def setup(service: Harness, mentors: int = 3, **program: object) -> dict[str, str]:
    pool = service.enrollment()
    program_id = await pool.program(**program)
    ids = {"program": program_id, "mentee": unique("mentee")}
    await pool.enroll(program_id, ids["mentee"], "mentee", sought=["python"], job_level=2)
    for index in range(mentors):
        ids[f"m{index}"] = unique(f"m{index}")
        await pool.enroll(program_id, ids[f"m{index}"], "mentor", offered=["python"], job_level=5)
    return ids


async def ask(service: Harness, ids: dict[str, str], *choices: str, headers=None):
    return await service.client.post(
        f"/v1/programs/{ids['program']}/mentor-requests",
        json={"mentor_ids": [ids.get(c, c) for c in choices]},
        headers=headers or participant(ids["mentee"]),
    )


async def answer(service: Harness, request_id: str, verb: str, headers: dict[str, str]):
    return await service.client.post(f"/v1/mentor-requests/{request_id}/{verb}", headers=headers)


async def test_the_first_choice_is_asked_with_an_expiry(service):
    ids = await setup(service)

    response = await ask(service, ids, "m0", "m1")

    assert response.status_code == 201, response.text
    request = response.json()
    assert request["status"] == "pending"
    assert request["mentor_id"] == ids["m0"]
    assert request["choice_rank"] == 1
    assert request["choices"] == [ids["m0"], ids["m1"]]
    assert request["expires_at"].startswith("2025-03-05T09:00:00")  # clock + 48 h
    run = (await service.run(ids["program"])).json()
    assert run["metrics"]["mentees"] == 0  # waiting on a request: not in runs
    mine = await service.client.get(
        f"/v1/mentor-requests/{request['request_id']}", headers=participant(ids["m0"])
    )
    theirs = await service.client.get(
        f"/v1/mentor-requests/{request['request_id']}", headers=participant(ids["m1"])
    )
    assert mine.status_code == 200
    assert theirs.status_code == 403
    again = await ask(service, ids, "m2")
    assert again.status_code == 409


async def test_a_decline_cascades_and_an_accept_forms_the_pair(service):
    ids = await setup(service)
    request_id = (await ask(service, ids, "m0", "m1")).json()["request_id"]

    wrong_mentor = await answer(service, request_id, "accept", participant(ids["m1"]))
    mentee_self = await answer(service, request_id, "accept", participant(ids["mentee"]))
    declined = await answer(service, request_id, "decline", participant(ids["m0"]))
    accepted = await answer(service, request_id, "accept", participant(ids["m1"]))

    assert wrong_mentor.status_code == 403
    assert mentee_self.status_code == 403
    assert declined.json()["mentor_id"] == ids["m1"]
    assert declined.json()["choice_rank"] == 2
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "accepted"
    pair = await service.pair(accepted.json()["pair_id"])
    assert pair["status"] == "active"
    assert pair["format"] == "self_directed"
    assert (pair["mentor_id"], pair["mentee_id"]) == (ids["m1"], ids["mentee"])
    assert pair["request_id"] == request_id
    assert math.isclose(sum(f["contribution"] for f in pair["explanation"]), pair["score"])
    twice = await answer(service, request_id, "accept", participant(ids["m1"]))
    assert twice.status_code == 409


async def test_unanswered_requests_expire_to_the_next_choice_then_run_out(service):
    ids = await setup(service)
    request_id = (await ask(service, ids, "m0", "m1")).json()["request_id"]

    async def asked(mentor: str, status: str = "pending") -> bool:
        response = await service.client.get(f"/v1/mentor-requests/{request_id}", headers=ADMIN)
        body = response.json()
        return body["mentor_id"] == mentor and body["status"] == status

    service.clock.advance(timedelta(hours=47))
    assert await asked(ids["m0"])
    service.clock.advance(timedelta(hours=2))
    await wait_until(lambda: asked(ids["m1"]), timeout=30, message="second choice asked")
    late = await answer(service, request_id, "accept", participant(ids["m0"]))
    assert late.status_code == 403  # m0 is no longer the mentor asked

    service.clock.advance(timedelta(hours=49))
    await wait_until(lambda: asked(ids["m1"], "exhausted"), timeout=30, message="exhausted")
    run = (await service.run(ids["program"])).json()
    assert run["metrics"]["mentees"] == 1  # back in the pool


async def test_an_overdue_request_cannot_be_accepted_before_the_worker_moves_it(service):
    ids = await setup(service)
    request_id = (await ask(service, ids, "m0", "m1")).json()["request_id"]
    service.clock.advance(timedelta(hours=48))

    response = await answer(service, request_id, "accept", participant(ids["m0"]))

    assert response.status_code in {403, 409}


async def test_choices_that_break_a_hard_constraint_are_refused_naming_them(service):
    ids = await setup(service, mentors=1)
    pool = service.enrollment()
    boss = unique("boss")
    await pool.enroll(ids["program"], boss, "mentor", offered=["python"], job_level=7)
    await pool.employee(ids["mentee"], manager_id=boss, job_level=2)

    manager = await ask(service, ids, "m0", boss)
    twice = await ask(service, ids, "m0", "m0")
    own = await ask(service, ids, ids["mentee"])
    stranger = await ask(service, ids, unique("nobody"))

    assert manager.status_code == 422
    assert manager.json()["errors"][0]["field"] == "mentor_ids[1]"
    assert "reporting_line" in manager.json()["detail"]
    assert twice.json()["errors"][0]["field"] == "mentor_ids[1]"
    assert own.json()["errors"][0]["field"] == "mentor_ids[0]"
    assert stranger.status_code == 422


async def test_full_mentors_are_skipped(service):
    ids = await setup(service, mentors=2, capacity=1)
    pool = service.enrollment()
    other = unique("mentee")
    await pool.enroll(ids["program"], other, "mentee", sought=["python"], job_level=2)
    first = (await ask(service, {**ids, "mentee": other}, "m0")).json()
    await answer(service, first["request_id"], "accept", participant(ids["m0"]))

    skipped = await ask(service, ids, "m0", "m1")
    all_full_ids = {**ids, "mentee": unique("mentee")}
    await pool.enroll(ids["program"], all_full_ids["mentee"], "mentee", job_level=2)
    await answer(service, skipped.json()["request_id"], "accept", participant(ids["m1"]))
    all_full = await ask(service, all_full_ids, "m0", "m1")

    assert skipped.json()["mentor_id"] == ids["m1"]
    assert skipped.json()["choice_rank"] == 2
    assert all_full.status_code == 409


async def test_staff_ask_on_behalf_of_a_named_mentee(service):
    ids = await setup(service)

    unnamed = await ask(service, ids, "m0", headers=MANAGER)
    named = await service.client.post(
        f"/v1/programs/{ids['program']}/mentor-requests",
        json={"mentor_ids": [ids["m0"]], "mentee_id": ids["mentee"]},
        headers=MANAGER,
    )
    impostor = await service.client.post(
        f"/v1/programs/{ids['program']}/mentor-requests",
        json={"mentor_ids": [ids["m0"]], "mentee_id": ids["mentee"]},
        headers=participant(ids["m1"]),
    )

    assert unnamed.status_code == 422
    assert named.status_code == 201
    assert impostor.status_code == 403
    listed = await service.client.get(
        f"/v1/programs/{ids['program']}/mentor-requests?status=pending",
        headers=participant(ids["m0"]),
    )
    assert [r["mentee_id"] for r in listed.json()["items"]] == [ids["mentee"]]


async def test_a_program_without_self_directed_mentoring_refuses_requests(service):
    ids = await setup(service, formats=["one_to_one"])

    response = await ask(service, ids, "m0")

    assert response.status_code == 409
    assert response.json()["format"] == "self_directed"


async def test_leaving_cancels_or_moves_a_request_on(service):
    ids = await setup(service)
    pool = service.enrollment()
    moving = (await ask(service, ids, "m0", "m1")).json()["request_id"]

    await pool.depart(ids["m0"])

    async def state(request_id: str) -> dict:
        response = await service.client.get(f"/v1/mentor-requests/{request_id}", headers=ADMIN)
        return response.json()

    await wait_until(
        lambda: _mentor_is(state(moving), ids["m1"]), timeout=30, message="next choice"
    )
    await pool.withdraw(ids["program"], ids["mentee"], "mentee")
    await wait_until(
        lambda: _status_is(state(moving), "cancelled"), timeout=30, message="cancelled"
    )


async def _mentor_is(body, mentor: str) -> bool:
    return (await body)["mentor_id"] == mentor


async def _status_is(body, status: str) -> bool:
    return (await body)["status"] == status
