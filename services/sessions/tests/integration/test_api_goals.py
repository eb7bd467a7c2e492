"""Goals over HTTP: the mentee's goals, milestones, progress, achieved and dropped."""

from datetime import timedelta

from mentorship_kit.testing import utc_days

from .conftest import TODAY


async def test_a_goal_with_milestones_is_set_progressed_and_achieved(service):
    pair = await service.pair()
    created = await service.client.post(
        f"/v1/pairs/{pair.pair_id}/goals",
        json={
            "title": "Lead a project",
            "description": "own the Q3 migration",
            "target_date": str(TODAY + timedelta(days=90)),
            "milestones": [{"title": "Write the plan"}, {"title": "Kick-off"}],
        },
        headers=pair.mentor,
    )
    assert created.status_code == 201, created.text
    goal = created.json()
    assert (goal["status"], goal["progress"], goal["mentee_id"]) == ("open", 0, pair.mentee_id)
    assert [m["title"] for m in goal["milestones"]] == ["Write the plan", "Kick-off"]
    assert goal["milestone_count"] == 2
    url = f"/v1/goals/{goal['goal_id']}"

    first = goal["milestones"][0]["milestone_id"]
    completed = await service.client.post(f"{url}/milestones/{first}/complete", headers=pair.mentee)
    added = await service.client.post(
        f"{url}/milestones", json={"title": "Demo", "due_on": str(TODAY)}, headers=pair.mentee
    )
    progressed = await service.client.patch(url, json={"progress": 60}, headers=pair.mentee)
    out_of_range = await service.client.patch(url, json={"progress": 101}, headers=pair.mentee)
    with utc_days() as days:  # the service closes it on its own today
        achieved = await service.client.patch(url, json={"status": "achieved"}, headers=pair.mentor)
    reopened = await service.client.patch(url, json={"status": "open"}, headers=pair.mentor)
    listed = await service.client.get(f"/v1/pairs/{pair.pair_id}/goals", headers=pair.mentee)

    assert completed.json()["milestones_done"] == 1
    assert completed.json()["milestones"][0]["done"] is True
    assert added.status_code == 201
    assert [m["position"] for m in added.json()["milestones"]] == [1, 2, 3]
    assert progressed.json()["progress"] == 60
    assert out_of_range.status_code == 422
    assert out_of_range.json()["errors"][0]["field"] == "progress"
    assert (achieved.json()["status"], achieved.json()["progress"]) == ("achieved", 100)
    assert achieved.json()["closed_on"] in {str(day) for day in days}
    assert reopened.status_code == 409
    assert listed.json()["items"] == [achieved.json()]


async def test_a_dropped_goal_takes_no_more_milestones(service):
    pair = await service.pair()
    goal = (
        await service.client.post(
            f"/v1/pairs/{pair.pair_id}/goals",
            json={"title": "Public speaking"},
            headers=pair.mentee,
        )
    ).json()
    url = f"/v1/goals/{goal['goal_id']}"
    dropped = await service.client.patch(url, json={"status": "dropped"}, headers=pair.mentee)
    refused = await service.client.post(
        f"{url}/milestones", json={"title": "x"}, headers=pair.mentee
    )
    assert dropped.json()["status"] == "dropped"
    assert refused.status_code == 409


async def test_goals_belong_to_the_pair_only(service):
    pair = await service.pair()
    goal = (
        await service.client.post(
            f"/v1/pairs/{pair.pair_id}/goals", json={"title": "Negotiate"}, headers=pair.mentee
        )
    ).json()
    for headers in (service.admin, service.stranger):
        assert (
            await service.client.post(
                f"/v1/pairs/{pair.pair_id}/goals", json={"title": "x"}, headers=headers
            )
        ).status_code == 403
        assert (
            await service.client.get(f"/v1/goals/{goal['goal_id']}", headers=headers)
        ).status_code == 403
        assert (
            await service.client.patch(
                f"/v1/goals/{goal['goal_id']}", json={"progress": 5}, headers=headers
            )
        ).status_code == 403
    assert (await service.client.get("/v1/goals/nope", headers=pair.mentee)).status_code == 404


async def test_an_ended_pairs_goals_are_read_only(service):
    pair = await service.pair()
    goal = (
        await service.client.post(
            f"/v1/pairs/{pair.pair_id}/goals", json={"title": "Mentor others"}, headers=pair.mentee
        )
    ).json()
    await service.end(pair)
    changed = await service.client.patch(
        f"/v1/goals/{goal['goal_id']}", json={"progress": 10}, headers=pair.mentee
    )
    read = await service.client.get(f"/v1/goals/{goal['goal_id']}", headers=pair.mentee)
    assert changed.status_code == 409
    assert changed.json()["pair_status"] == "ended"
    assert read.status_code == 200
