"""Sessions over HTTP: logging, back-dating, scheduling, and who may do it."""

from datetime import UTC, datetime, timedelta

import pytest

from mentorship_kit.testing import utc_days

from .conftest import TODAY, bearer


def held(**changes):
    body = {"status": "held", "duration_minutes": 45, "topics": ["career"], "notes": "n"}
    body.update(changes)
    return body


def later(days=3):
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


def problem_field(response):
    return [error["field"] for error in response.json()["errors"]]


async def test_a_member_logs_a_held_session_and_reads_it_back(service):
    pair = await service.pair()
    created = await service.client.post(
        f"/v1/pairs/{pair.pair_id}/sessions",
        json=held(held_on=str(TODAY), mode="phone"),
        headers=pair.mentee,
    )
    assert created.status_code == 201, created.text
    session = created.json()
    assert session["status"] == "held"
    assert (session["held_on"], session["duration_minutes"], session["mode"]) == (
        str(TODAY),
        45,
        "phone",
    )
    assert (session["topics"], session["notes"], session["topic_count"]) == (["career"], "n", 1)

    fetched = await service.client.get(f"/v1/sessions/{session['session_id']}", headers=pair.mentor)
    listed = await service.client.get(f"/v1/pairs/{pair.pair_id}/sessions", headers=pair.mentor)

    assert fetched.json() == session
    assert listed.json() == {"items": [session], "next_cursor": None}


async def test_held_on_defaults_to_today_and_may_precede_the_pair(service):
    program = await service.program(starts_on=TODAY - timedelta(days=100))
    pair = await service.pair(program, formed_on=TODAY - timedelta(days=10))
    url = f"/v1/pairs/{pair.pair_id}/sessions"
    with utc_days() as days:
        today = await service.client.post(url, json=held(), headers=pair.mentor)
    back_dated = await service.client.post(
        url, json=held(held_on=str(TODAY - timedelta(days=90))), headers=pair.mentor
    )
    assert today.json()["held_on"] in {str(day) for day in days}
    assert back_dated.status_code == 201
    assert back_dated.json()["held_on"] == str(TODAY - timedelta(days=90))


@pytest.mark.parametrize(
    "held_on",
    [TODAY + timedelta(days=2), TODAY - timedelta(days=366)],
    ids=["future", "before-the-program"],
)
async def test_a_held_session_in_the_future_or_outside_the_program_is_a_422_on_held_on(
    service, held_on
):
    pair = await service.pair()
    response = await service.client.post(
        f"/v1/pairs/{pair.pair_id}/sessions", json=held(held_on=str(held_on)), headers=pair.mentor
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert problem_field(response) == ["held_on"]


async def test_schema_errors_name_their_field(service):
    pair = await service.pair()
    url = f"/v1/pairs/{pair.pair_id}/sessions"
    no_time = await service.client.post(
        url, json={"status": "scheduled", "duration_minutes": 30}, headers=pair.mentor
    )
    too_long = await service.client.post(url, json=held(duration_minutes=0), headers=pair.mentor)
    assert (no_time.status_code, problem_field(no_time)) == (422, ["scheduled_for"])
    assert (too_long.status_code, problem_field(too_long)) == (422, ["duration_minutes"])


async def test_only_active_pairs_log_and_the_409_names_the_status(service):
    pair = await service.pair()
    await service.end(pair)
    response = await service.client.post(
        f"/v1/pairs/{pair.pair_id}/sessions", json=held(), headers=pair.mentor
    )
    assert response.status_code == 409
    assert response.json()["pair_status"] == "ended"
    assert response.json()["type"] == "urn:mentorship:problem:pair-not-active"


async def test_unknown_pairs_are_404_and_outsiders_403_but_admins_may_log(service):
    pair = await service.pair()
    unknown = await service.client.post(
        "/v1/pairs/no-such-pair/sessions", json=held(), headers=pair.mentor
    )
    outsider = await service.client.post(
        f"/v1/pairs/{pair.pair_id}/sessions", json=held(), headers=service.stranger
    )
    # A program manager, or an integration whose subject is the mentor's id, is not the mentor.
    manager = await service.client.post(
        f"/v1/pairs/{pair.pair_id}/sessions",
        json=held(),
        headers=bearer("program_manager", pair.mentor_id),
    )
    admin = await service.client.post(
        f"/v1/pairs/{pair.pair_id}/sessions", json=held(), headers=service.admin
    )
    anonymous = await service.client.post(f"/v1/pairs/{pair.pair_id}/sessions", json=held())
    assert unknown.status_code == 404
    assert outsider.status_code == 403
    assert outsider.json()["type"] == "urn:mentorship:problem:not-a-pair-member"
    assert manager.status_code == 403
    assert admin.status_code == 201
    assert admin.json()["notes"] is None
    assert anonymous.status_code == 401


async def test_schedule_reschedule_and_log_a_planned_session(service):
    pair = await service.pair()
    planned = await service.client.post(
        f"/v1/pairs/{pair.pair_id}/sessions",
        json={"status": "scheduled", "scheduled_for": later(), "duration_minutes": 60},
        headers=pair.mentor,
    )
    assert planned.status_code == 201, planned.text
    session = planned.json()
    assert (session["status"], session["mode"], session["expected_minutes"]) == (
        "scheduled",
        "video",
        60,
    )
    url = f"/v1/sessions/{session['session_id']}"
    moved = await service.client.post(
        f"{url}/reschedule", json={"scheduled_for": later(5)}, headers=pair.mentee
    )
    past = await service.client.post(
        f"{url}/reschedule", json={"scheduled_for": later(-1)}, headers=pair.mentee
    )
    too_early = await service.client.post(f"{url}/no-show", headers=pair.mentee)
    logged = await service.client.post(
        f"{url}/log",
        json={"held_on": str(TODAY), "duration_minutes": 50, "notes": "went well"},
        headers=pair.mentor,
    )
    again = await service.client.post(f"{url}/cancel", headers=pair.mentor)

    assert moved.status_code == 200
    assert datetime.fromisoformat(moved.json()["scheduled_for"]) > datetime.now(UTC)
    assert (past.status_code, problem_field(past)) == (422, ["scheduled_for"])
    assert too_early.status_code == 409
    assert logged.status_code == 200
    assert (logged.json()["status"], logged.json()["duration_minutes"]) == ("held", 50)
    assert logged.json()["notes"] == "went well"
    assert again.status_code == 409
    assert again.json()["current"] == "held"


async def test_cancelling_and_listing_with_a_status_filter_and_pages(service):
    pair = await service.pair()
    url = f"/v1/pairs/{pair.pair_id}/sessions"
    for _ in range(3):
        await service.client.post(url, json=held(), headers=pair.mentor)
    planned = await service.client.post(
        url,
        json={"status": "scheduled", "scheduled_for": later(), "duration_minutes": 30},
        headers=pair.mentor,
    )
    cancelled = await service.client.post(
        f"/v1/sessions/{planned.json()['session_id']}/cancel", headers=service.admin
    )
    first = await service.client.get(f"{url}?limit=2&status=held", headers=pair.mentee)
    second = await service.client.get(
        f"{url}?limit=2&status=held&cursor={first.json()['next_cursor']}", headers=pair.mentee
    )
    only_cancelled = await service.client.get(f"{url}?status=cancelled", headers=pair.mentee)
    bad_cursor = await service.client.get(f"{url}?cursor=nonsense", headers=pair.mentee)

    assert cancelled.json()["status"] == "cancelled"
    assert len(first.json()["items"]) == 2
    assert len(second.json()["items"]) == 1
    assert second.json()["next_cursor"] is None
    ids = {s["session_id"] for s in first.json()["items"] + second.json()["items"]}
    assert len(ids) == 3
    assert [s["status"] for s in only_cancelled.json()["items"]] == ["cancelled"]
    assert bad_cursor.status_code == 400


async def test_an_idempotency_key_replays_the_first_answer(service):
    pair = await service.pair()
    url = f"/v1/pairs/{pair.pair_id}/sessions"
    headers = pair.mentor | {"Idempotency-Key": "log-once"}
    first = await service.client.post(url, json=held(), headers=headers)
    again = await service.client.post(url, json=held(), headers=headers)
    other = await service.client.post(url, json=held(duration_minutes=5), headers=headers)
    listed = await service.client.get(url, headers=pair.mentor)
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert other.status_code == 422
    assert len(listed.json()["items"]) == 1


async def test_the_session_history_shows_every_change_with_its_actor(service):
    pair = await service.pair()
    planned = await service.client.post(
        f"/v1/pairs/{pair.pair_id}/sessions",
        json={"status": "scheduled", "scheduled_for": later(), "duration_minutes": 60},
        headers=pair.mentor,
    )
    url = f"/v1/sessions/{planned.json()['session_id']}"
    await service.client.post(
        f"{url}/reschedule", json={"scheduled_for": later(5)}, headers=pair.mentee
    )
    await service.client.post(
        f"{url}/log",
        json={"held_on": str(TODAY), "duration_minutes": 50, "notes": "private words"},
        headers=pair.mentor,
    )
    history_url = f"/v1/pairs/{pair.pair_id}/sessions/history"

    history = await service.client.get(history_url, headers=pair.mentee)
    as_admin = await service.client.get(history_url, headers=service.admin)
    outsider = await service.client.get(history_url, headers=bearer("participant", "someone"))

    assert history.status_code == 200, history.text
    items = history.json()["items"]
    assert [(i["event_type"], i["actor"]) for i in items] == [
        ("SessionScheduled", pair.mentor_id),
        ("SessionRescheduled", pair.mentee_id),
        ("SessionLogged", pair.mentor_id),
    ]
    assert items[2]["changes"]["duration_minutes"] == 50
    assert "private words" not in history.text
    assert as_admin.status_code == 200
    assert as_admin.json() == history.json()
    assert outsider.status_code == 403
