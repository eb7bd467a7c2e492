"""The pair registry learns pairs and programs from matching's and enrollment's streams."""

from datetime import timedelta

from mentorship_contracts.enrollment import ProgramCreated, ProgramUpdated
from mentorship_contracts.matching import PairEnded, PairFormed
from mentorship_kit.testing import wait_until

from .conftest import TODAY, bearer, program_settings, publish, recorded

PAIR = {"pair_id": "pair-r1", "program_id": "prog-r1", "mentor_id": "m-r1", "mentee_id": "e-r1"}
MENTOR = bearer("participant", "m-r1")


async def pair_status(service):
    response = await service.client.get("/v1/pairs/pair-r1", headers=MENTOR)
    return response.json()["status"] if response.status_code == 200 else None


async def test_pairs_and_programs_arrive_over_jetstream_and_an_ended_pair_is_read_only(service):
    js = service.app.state.context.js
    created = ProgramCreated(
        program_id="prog-r1", settings=program_settings(TODAY - timedelta(days=30), None, 14)
    )
    formed = recorded(PairFormed(**PAIR, format="one_to_one", formed_on=TODAY), "pair-r1", 1)
    await publish(js, recorded(created, "program-prog-r1", 1), "enrollment")
    await publish(js, formed, "matching")
    # The pair and its program arrive on two streams, through two consumers: wait for
    # both (back-dating is checked against the program's dates).
    await wait_until(lambda: _registered(service), timeout=30, message="pair and program known")

    logged = await service.client.post(
        "/v1/pairs/pair-r1/sessions",
        json={"status": "held", "duration_minutes": 30, "held_on": str(TODAY - timedelta(days=20))},
        headers=MENTOR,
    )
    before_program = await service.client.post(
        "/v1/pairs/pair-r1/sessions",
        json={"status": "held", "duration_minutes": 30, "held_on": str(TODAY - timedelta(days=40))},
        headers=MENTOR,
    )
    assert logged.status_code == 201, logged.text
    assert before_program.status_code == 422

    # The program moves its start back: back-dating follows the new dates.
    moved = ProgramUpdated(
        program_id="prog-r1", settings=program_settings(TODAY - timedelta(days=60), None, 7)
    )
    await publish(js, recorded(moved, "program-prog-r1", 2), "enrollment")
    await wait_until(lambda: _cadence_is(service, 7), timeout=30, message="program update applied")
    now_inside = await service.client.post(
        "/v1/pairs/pair-r1/sessions",
        json={"status": "held", "duration_minutes": 30, "held_on": str(TODAY - timedelta(days=40))},
        headers=MENTOR,
    )
    assert now_inside.status_code == 201

    ended = PairEnded(**PAIR, reason="completed", ended_by="m-r1", ended_on=TODAY)
    await publish(js, recorded(ended, "pair-r1", 2), "matching")
    await publish(js, formed, "matching")  # a re-published copy changes nothing
    await wait_until(lambda: _is(pair_status(service), "ended"), timeout=30, message="pair ended")

    refused = await service.client.post(
        "/v1/pairs/pair-r1/sessions",
        json={"status": "held", "duration_minutes": 30},
        headers=MENTOR,
    )
    assert refused.status_code == 409
    assert refused.json()["pair_status"] == "ended"
    assert await pair_status(service) == "ended"


async def _is(status_awaitable, expected):
    return await status_awaitable == expected


async def _registered(service) -> bool:
    response = await service.client.get("/v1/pairs/pair-r1", headers=MENTOR)
    if response.status_code != 200:
        return False
    body = response.json()
    return body["status"] == "active" and (body.get("program") or {}).get("cadence_days") == 14


async def _cadence_is(service, days):
    response = await service.client.get("/v1/pairs/pair-r1", headers=MENTOR)
    return response.json()["program"]["cadence_days"] == days
