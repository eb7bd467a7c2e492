"""Feedback over HTTP: session ratings, check-ins on the cadence, exit surveys, fit checks."""

import pytest


async def held_session(service, pair):
    response = await service.client.post(
        f"/v1/pairs/{pair.pair_id}/sessions",
        json={"status": "held", "duration_minutes": 30, "topics": []},
        headers=pair.mentor,
    )
    return response.json()["session_id"]


async def test_each_member_rates_a_held_session_once(service):
    pair = await service.pair()
    session_id = await held_session(service, pair)
    url = f"/v1/pairs/{pair.pair_id}/feedback"
    body = {"kind": "session", "rating": 5, "nps": 9, "comment": "great", "session_id": session_id}
    rated = await service.client.post(url, json=body, headers=pair.mentee)
    twice = await service.client.post(url, json=body, headers=pair.mentee)
    mentor = await service.client.post(url, json=body | {"rating": 4}, headers=pair.mentor)
    no_session = await service.client.post(
        url, json={"kind": "session", "rating": 3}, headers=pair.mentee
    )
    not_ours = await service.client.post(
        url, json=body | {"session_id": "elsewhere"}, headers=pair.mentor
    )
    assert rated.status_code == 201, rated.text
    assert (rated.json()["kind"], rated.json()["rating"], rated.json()["nps"]) == ("session", 5, 9)
    assert (rated.json()["respondent_role"], rated.json()["comment"]) == ("mentee", "great")
    assert twice.status_code == 409
    assert mentor.status_code == 201
    assert (no_session.status_code, no_session.json()["errors"][0]["field"]) == (422, "session_id")
    assert (not_ours.status_code, not_ours.json()["errors"][0]["field"]) == (422, "session_id")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "exit", "rating": 6}, "rating"),
        ({"kind": "exit", "rating": 0}, "rating"),
        ({"kind": "exit", "rating": 3, "nps": 11}, "nps"),
        ({"kind": "exit", "rating": 3, "nps": -1}, "nps"),
        ({"kind": "checkin", "rating": 3}, "nps"),
    ],
)
async def test_ratings_and_nps_out_of_range_are_422_naming_the_field(service, body, field):
    pair = await service.pair()
    response = await service.client.post(
        f"/v1/pairs/{pair.pair_id}/feedback", json=body, headers=pair.mentee
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == field


async def test_check_ins_follow_the_cadence_through_either_endpoint(service):
    program = await service.program(cadence_days=14)
    pair = await service.pair(program)
    first = await service.client.post(
        f"/v1/pairs/{pair.pair_id}/check-ins",
        json={"relationship_quality": 4, "nps": 10, "comment": "fine"},
        headers=pair.mentee,
    )
    early = await service.client.post(
        f"/v1/pairs/{pair.pair_id}/feedback",
        json={"kind": "checkin", "rating": 4, "nps": 8},
        headers=pair.mentee,
    )
    mentor = await service.client.post(
        f"/v1/pairs/{pair.pair_id}/feedback",
        json={"kind": "checkin", "rating": 2, "nps": 3},
        headers=pair.mentor,
    )
    overview = await service.client.get(f"/v1/pairs/{pair.pair_id}", headers=pair.mentor)
    assert first.status_code == 201, first.text
    assert (first.json()["kind"], first.json()["rating"], first.json()["nps"]) == ("checkin", 4, 10)
    assert early.status_code == 409
    assert early.json()["type"] == "urn:mentorship:problem:check-in-not-due"
    assert mentor.status_code == 201
    due = overview.json()["next_check_in_on"]
    assert due[pair.mentee_id] == early.json()["due_on"]
    assert overview.json()["program"]["cadence_days"] == 14


async def test_exit_surveys_only_once_the_pair_ended_and_it_is_read_only_otherwise(service):
    pair = await service.pair()
    session_id = await held_session(service, pair)
    url = f"/v1/pairs/{pair.pair_id}/feedback"
    too_soon = await service.client.post(
        url, json={"kind": "exit", "rating": 4}, headers=pair.mentee
    )
    await service.end(pair)
    survey = await service.client.post(
        url, json={"kind": "exit", "rating": 4, "nps": 7, "comment": "thanks"}, headers=pair.mentee
    )
    rating = await service.client.post(
        url, json={"kind": "session", "rating": 4, "session_id": session_id}, headers=pair.mentee
    )
    check_in = await service.client.post(
        f"/v1/pairs/{pair.pair_id}/check-ins",
        json={"relationship_quality": 4, "nps": 10},
        headers=pair.mentee,
    )
    assert too_soon.status_code == 409
    assert too_soon.json()["pair_status"] == "active"
    assert survey.status_code == 201
    assert rating.status_code == 409
    assert check_in.status_code == 409


async def test_a_fit_check_follows_the_first_held_session(service):
    pair = await service.pair()
    url = f"/v1/pairs/{pair.pair_id}/fit-check"
    before = await service.client.post(url, json={"fits": False}, headers=pair.mentee)
    session_id = await held_session(service, pair)
    no = await service.client.post(
        url, json={"fits": False, "comment": "no spark"}, headers=pair.mentee
    )
    yes = await service.client.post(url, json={"fits": True}, headers=pair.mentor)
    again = await service.client.post(url, json={"fits": True}, headers=pair.mentee)
    admin = await service.client.post(url, json={"fits": True}, headers=service.admin)
    assert before.status_code == 409
    assert before.json()["type"] == "urn:mentorship:problem:no-held-session"
    assert no.status_code == 201
    assert (no.json()["kind"], no.json()["fits"], no.json()["session_id"]) == (
        "fit_check",
        False,
        session_id,
    )
    assert yes.json()["fits"] is True
    assert again.status_code == 409
    assert admin.status_code == 403


async def test_admins_read_ratings_without_comments(service):
    pair = await service.pair()
    session_id = await held_session(service, pair)
    await service.client.post(
        f"/v1/pairs/{pair.pair_id}/feedback",
        json={"kind": "session", "rating": 2, "comment": "late again", "session_id": session_id},
        headers=pair.mentee,
    )
    url = f"/v1/pairs/{pair.pair_id}/feedback"
    member = await service.client.get(url, headers=pair.mentor)
    admin = await service.client.get(f"{url}?kind=session", headers=service.admin)
    stranger = await service.client.get(url, headers=service.stranger)
    assert member.json()["items"][0]["comment"] == "late again"
    assert admin.json()["items"][0]["rating"] == 2
    assert admin.json()["items"][0]["comment"] is None
    assert stranger.status_code == 403
