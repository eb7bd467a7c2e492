"""The consumers against a real nats-server, on SQLite and PostgreSQL: enrollment's
stream feeds the pool (exactly once, whatever the redeliveries), and a failed fit
check from sessions ends the pair so that the mentee can be rematched."""

import uuid

from matching_support import (
    ADMIN,
    TODAY,
    Publisher,
    enroll_over_nats,
    participant,
    program_settings,
    unique,
)

from mentorship_contracts.enrollment import (
    ProgramCreated,
    ProgramOpened,
)
from mentorship_contracts.sessions import FitCheckFailed
from mentorship_kit.testing import wait_until


async def test_enrollment_events_on_jetstream_become_the_pool(service):
    publisher = Publisher(service)
    program_id = unique("prog")
    await publisher.publish(
        f"program-{program_id}",
        ProgramCreated(program_id=program_id, settings=program_settings(["one_to_one"], 2)),
    )
    await publisher.publish(
        f"program-{program_id}", ProgramOpened(program_id=program_id, opened_on=TODAY)
    )
    mentor, mentee = unique("mentor"), unique("mentee")
    await enroll_over_nats(publisher, program_id, mentor, "mentor")
    await enroll_over_nats(publisher, program_id, mentee, "mentee")

    async def pool() -> dict | None:
        response = await service.client.get(f"/v1/programs/{program_id}/pool", headers=ADMIN)
        body = response.json() if response.status_code == 200 else None
        return body if body and len(body["items"]) == 2 else None

    body = await wait_until(pool, timeout=30, message="the pool fed from JetStream")
    assert body["program"]["status"] == "open"
    assert {(c["employee_id"], c["role"]) for c in body["items"]} == {
        (mentor, "mentor"),
        (mentee, "mentee"),
    }
    run = (await service.run(program_id)).json()
    assert [(p["mentor_id"], p["mentee_id"]) for p in run["proposals"]] == [(mentor, mentee)]


async def test_a_failed_fit_check_ends_the_pair_and_offers_a_rematch(service):
    pool = service.enrollment()
    program_id = await pool.program(capacity=1)
    first, second, mentee = unique("mentor"), unique("mentor"), unique("mentee")
    await pool.enroll(program_id, first, "mentor", offered=["python"], job_level=6)
    await pool.enroll(program_id, mentee, "mentee", sought=["python"], job_level=3)
    run = (await service.run(program_id, dry_run=False, auto_accept=True)).json()
    assert run["status"] == "published"
    pairs = await service.client.get(f"/v1/programs/{program_id}/pairs", headers=ADMIN)
    pair_id = pairs.json()["items"][0]["pair_id"]
    await pool.enroll(program_id, second, "mentor", offered=["python"], job_level=5)

    await Publisher(service).publish(
        f"feedback-{uuid.uuid4()}",
        FitCheckFailed(
            feedback_id=str(uuid.uuid4()),
            pair_id=pair_id,
            program_id=program_id,
            respondent_id=mentee,
            respondent_role="mentee",
            reported_on=TODAY,
        ),
    )

    ended = await service.until_pair(pair_id, "ended")
    assert ended["end_reason"] == "failed_fit"
    history = await service.client.get(f"/v1/pairs/{pair_id}/history", headers=participant(mentee))
    assert history.json()["items"][-1]["changes"]["ended_by"] == mentee
    rematch = await service.client.post(
        f"/v1/programs/{program_id}/rematch", json={"mentee_ids": [mentee]}, headers=ADMIN
    )
    assert [(p["mentor_id"], p["mentee_id"]) for p in rematch.json()["proposals"]] == [
        (second, mentee)
    ]
