"""Pairs over the API, on SQLite and PostgreSQL: acceptance by both sides, who may do
what, ending, declining, what leaving does to a pair, the audit history, rematching."""

from matching_support import ADMIN, MANAGER, Harness, participant, unique

from mentorship_kit.testing import wait_until


async def proposed_pair(service: Harness, **run: object) -> dict[str, str]:
    """A program with one mentor and one mentee, and their published proposal."""
    pool = service.enrollment()
    program_id = await pool.program(capacity=2)
    mentor, mentee = unique("mentor"), unique("mentee")
    await pool.enroll(program_id, mentor, "mentor", offered=["python"], job_level=6)
    await pool.enroll(program_id, mentee, "mentee", sought=["python"], job_level=3)
    result = (await service.run(program_id, **run)).json()
    if result["status"] != "published":
        await service.publish(result["id"])
    listed = await service.client.get(f"/v1/programs/{program_id}/pairs", headers=ADMIN)
    (pair,) = listed.json()["items"]
    return {"program": program_id, "mentor": mentor, "mentee": mentee, "pair": pair["pair_id"]}


async def post(service: Harness, path: str, headers: dict[str, str], **body: object):
    return await service.client.post(path, json=body or None, headers=headers)


async def test_a_pair_is_active_once_both_members_accepted(service):
    ids = await proposed_pair(service)
    pair_path = f"/v1/pairs/{ids['pair']}"

    by_mentor = await post(service, f"{pair_path}/accept", participant(ids["mentor"]))
    by_mentee = await post(service, f"{pair_path}/accept", participant(ids["mentee"]))

    assert by_mentor.status_code == 200, by_mentor.text
    assert by_mentor.json()["status"] == "proposed"
    assert by_mentor.json()["accepted"] == {"mentor": True, "mentee": False}
    assert by_mentee.json()["status"] == "active"
    assert by_mentee.json()["formed_on"] is not None
    again = await post(service, f"{pair_path}/accept", participant(ids["mentee"]))
    assert again.status_code == 200
    assert again.json()["status"] == "active"


async def test_someone_outside_the_pair_may_not_accept(service):
    ids = await proposed_pair(service)
    pair_path = f"/v1/pairs/{ids['pair']}"

    outsider = await post(service, f"{pair_path}/accept", participant(unique("stranger")))
    manager = await post(service, f"{pair_path}/accept", MANAGER)
    peek = await service.client.get(pair_path, headers=participant(unique("stranger")))

    assert outsider.status_code == 403
    assert outsider.headers["content-type"].startswith("application/problem+json")
    assert manager.status_code == 403
    assert peek.status_code == 403
    assert (await service.pair(ids["pair"]))["status"] == "proposed"


async def test_an_admin_accepts_for_both_sides(service):
    ids = await proposed_pair(service)

    response = await post(service, f"/v1/pairs/{ids['pair']}/accept", ADMIN)

    assert response.json()["status"] == "active"
    assert response.json()["accepted"] == {"mentor": True, "mentee": True}


async def test_a_declined_pair_returns_its_members_to_the_pool_and_is_not_repeated(service):
    ids = await proposed_pair(service)
    pool = service.enrollment()
    other = unique("mentor")
    await pool.enroll(ids["program"], other, "mentor", offered=["go"], job_level=6)

    declined = await post(service, f"/v1/pairs/{ids['pair']}/decline", participant(ids["mentee"]))
    accept_after = await post(
        service, f"/v1/pairs/{ids['pair']}/accept", participant(ids["mentor"])
    )
    rerun = (await service.run(ids["program"], objective="max_coverage")).json()

    assert declined.status_code == 200
    assert declined.json()["status"] == "declined"
    assert declined.json()["decline_reason"] is None
    assert accept_after.status_code == 409
    assert [(p["mentor_id"], p["mentee_id"]) for p in rerun["proposals"]] == [
        (other, ids["mentee"])
    ]


async def test_ending_a_pair(service):
    ids = await proposed_pair(service, dry_run=False, auto_accept=True)
    pair_path = f"/v1/pairs/{ids['pair']}"

    too_early = await post(service, f"{pair_path}/decline", participant(ids["mentor"]))
    ended = await post(service, f"{pair_path}/end", MANAGER, reason="completed")
    missing_reason = await post(service, f"{pair_path}/end", ADMIN)

    assert too_early.status_code == 409
    assert ended.status_code == 200
    assert ended.json()["status"] == "ended"
    assert ended.json()["end_reason"] == "completed"
    assert missing_reason.status_code == 422


async def test_a_proposal_cannot_be_ended_only_declined(service):
    ids = await proposed_pair(service)

    response = await post(
        service, f"/v1/pairs/{ids['pair']}/end", participant(ids["mentee"]), reason="other"
    )

    assert response.status_code == 409
    assert response.json()["current"] == "proposed"


async def test_participants_list_only_their_own_pairs(service):
    first = await proposed_pair(service)
    pool = service.enrollment()
    mentor, mentee = unique("mentor"), unique("mentee")
    await pool.enroll(first["program"], mentor, "mentor", offered=["go"], job_level=6)
    await pool.enroll(first["program"], mentee, "mentee", sought=["go"], job_level=3)
    second = (await service.run(first["program"])).json()
    await service.publish(second["id"])
    path = f"/v1/programs/{first['program']}/pairs"

    everyone = await service.client.get(path, headers=MANAGER)
    own = await service.client.get(path, headers=participant(mentee))
    nobody = await service.client.get(path, headers=participant(unique("stranger")))
    active = await service.client.get(f"{path}?status=active", headers=ADMIN)

    assert len(everyone.json()["items"]) == 2
    assert [p["mentee_id"] for p in own.json()["items"]] == [mentee]
    assert nobody.json()["items"] == []
    assert active.json()["items"] == []


async def test_the_history_tells_who_did_what(service):
    ids = await proposed_pair(service)
    pair_path = f"/v1/pairs/{ids['pair']}"
    await post(service, f"{pair_path}/accept", participant(ids["mentor"]))
    await post(service, f"{pair_path}/accept", participant(ids["mentee"]))
    await post(service, f"{pair_path}/end", participant(ids["mentee"]), reason="completed")

    response = await service.client.get(f"{pair_path}/history", headers=participant(ids["mentor"]))

    assert response.status_code == 200
    entries = response.json()["items"]
    assert [e["event_type"] for e in entries] == [
        "PairProposed",
        "PairAccepted",
        "PairAccepted",
        "PairFormed",
        "PairEnded",
    ]
    assert [e["actor"] for e in entries] == [
        "admin-1",
        ids["mentor"],
        ids["mentee"],
        ids["mentee"],
        ids["mentee"],
    ]
    assert entries[-1]["changes"]["reason"] == "completed"


async def test_a_departure_ends_an_active_pair_and_declines_a_proposal(service):
    active = await proposed_pair(service, dry_run=False, auto_accept=True)
    proposed = await proposed_pair(service)
    pool = service.enrollment()

    await pool.depart(active["mentee"])
    await pool.depart(proposed["mentor"])

    ended = await service.until_pair(active["pair"], "ended")
    declined = await service.until_pair(proposed["pair"], "declined")
    assert ended["end_reason"] == "departure"
    assert declined["decline_reason"] == "departure"
    history = await service.client.get(f"/v1/pairs/{active['pair']}/history", headers=ADMIN)
    last = history.json()["items"][-1]
    assert last["event_type"] == "PairEnded"
    assert last["actor_role"] == "system"
    assert last["actor"] == "hris-1"


async def test_a_withdrawal_ends_the_pairs_of_that_role_only(service):
    ids = await proposed_pair(service, dry_run=False, auto_accept=True)
    pool = service.enrollment()
    await pool.enroll(ids["program"], ids["mentor"], "mentee", sought=["leadership"])

    await pool.withdraw(ids["program"], ids["mentor"], "mentee")
    await pool.withdraw(ids["program"], ids["mentee"], "mentee")

    ended = await service.until_pair(ids["pair"], "ended")
    assert ended["end_reason"] == "withdrawal"


async def test_an_accept_after_a_member_left_is_refused(service):
    ids = await proposed_pair(service)
    await post(service, f"/v1/pairs/{ids['pair']}/accept", participant(ids["mentor"]))
    pool = service.enrollment()
    await pool.withdraw(ids["program"], ids["mentee"], "mentee")

    async def refused_or_declined() -> bool:
        response = await post(
            service, f"/v1/pairs/{ids['pair']}/accept", participant(ids["mentee"])
        )
        return response.status_code == 409

    assert await wait_until(refused_or_declined, timeout=30)
    declined = await service.until_pair(ids["pair"], "declined")
    assert declined["decline_reason"] == "withdrawal"


async def test_rematch_after_an_ended_pair_finds_another_mentor(service):
    ids = await proposed_pair(service, dry_run=False, auto_accept=True)
    pool = service.enrollment()
    other = unique("mentor")
    await pool.enroll(ids["program"], other, "mentor", offered=["python"], job_level=5)
    rematch_path = f"/v1/programs/{ids['program']}/rematch"

    while_paired = await post(service, rematch_path, ADMIN, mentee_ids=[ids["mentee"]])
    await post(service, f"/v1/pairs/{ids['pair']}/end", ADMIN, reason="failed_fit")
    rematch = await post(service, rematch_path, ADMIN, mentee_ids=[ids["mentee"]])
    unknown = await post(service, rematch_path, ADMIN, mentee_ids=[unique("nobody")])

    assert while_paired.status_code == 409
    assert while_paired.json()["field"] == "mentee_ids[0]"
    assert rematch.status_code == 201, rematch.text
    run = rematch.json()
    assert run["kind"] == "rematch"
    assert run["mentee_ids"] == [ids["mentee"]]
    assert [(p["mentor_id"], p["mentee_id"]) for p in run["proposals"]] == [(other, ids["mentee"])]
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "mentee_ids[0]"
    published = await service.publish(run["id"], auto_accept=True)
    assert published.json()["pairs"][0]["status"] == "active"
