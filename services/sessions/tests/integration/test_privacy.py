"""Notes, topics, titles and comments stay with the pair.

Every private text written here is searched for in every stored event (data and
metadata), in every message published on JetStream (body and headers), and in every
answer given to an admin or to someone outside the pair.
"""

import uuid
from datetime import timedelta

import sqlalchemy as sa

from mentorship_kit.messaging import stream_name
from mentorship_kit.testing import wait_until

from .conftest import TODAY


async def test_private_texts_reach_no_event_no_message_and_no_outsider(service):
    secret = f"secret-{uuid.uuid4().hex}"
    texts = {name: f"{secret}-{name}" for name in (
        "notes", "topic", "agenda", "planned-notes", "goal-title", "goal-description",
        "milestone", "milestone-later", "rating-comment", "checkin-comment",
        "fit-comment", "exit-comment", "admin-notes",
    )}  # fmt: skip
    pair = await service.pair()
    client, url = service.client, f"/v1/pairs/{pair.pair_id}"

    held = await client.post(
        f"{url}/sessions",
        json={"status": "held", "duration_minutes": 40, "topics": [texts["topic"]],
              "notes": texts["notes"]},
        headers=pair.mentor,
    )  # fmt: skip
    planned = await client.post(
        f"{url}/sessions",
        json={"status": "scheduled", "scheduled_for": f"{TODAY + timedelta(days=7)}T10:00:00Z",
              "duration_minutes": 30, "topics": [texts["agenda"]],
              "notes": texts["planned-notes"]},
        headers=pair.mentee,
    )  # fmt: skip
    by_admin = await client.post(
        f"{url}/sessions",
        json={"status": "held", "duration_minutes": 20, "notes": texts["admin-notes"]},
        headers=service.admin,
    )
    goal = await client.post(
        f"{url}/goals",
        json={"title": texts["goal-title"], "description": texts["goal-description"],
              "milestones": [{"title": texts["milestone"]}]},
        headers=pair.mentee,
    )  # fmt: skip
    goal_id = goal.json()["goal_id"]
    await client.post(
        f"/v1/goals/{goal_id}/milestones", json={"title": texts["milestone-later"]},
        headers=pair.mentee,
    )  # fmt: skip
    await client.patch(f"/v1/goals/{goal_id}", json={"progress": 30}, headers=pair.mentee)
    session_id = held.json()["session_id"]
    answers = [
        await client.post(
            f"{url}/feedback",
            json={
                "kind": "session",
                "rating": 4,
                "session_id": session_id,
                "comment": texts["rating-comment"],
            },
            headers=pair.mentee,
        ),
        await client.post(
            f"{url}/check-ins",
            json={"relationship_quality": 5, "nps": 9, "comment": texts["checkin-comment"]},
            headers=pair.mentor,
        ),
        await client.post(
            f"{url}/fit-check",
            json={"fits": False, "comment": texts["fit-comment"]},
            headers=pair.mentee,
        ),
    ]
    await service.end(pair)
    answers.append(
        await client.post(
            f"{url}/feedback",
            json={"kind": "exit", "rating": 3, "comment": texts["exit-comment"]},
            headers=pair.mentor,
        )
    )
    written = [held, planned, by_admin, goal, *answers]
    assert [r.status_code for r in written] == [201] * len(written), [r.text for r in written]

    # The members read all of it back (the texts were really stored) ...
    member_reads = [
        await client.get(f"{url}/sessions", headers=pair.mentee),
        await client.get(f"{url}/goals", headers=pair.mentor),
        await client.get(f"{url}/feedback", headers=pair.mentee),
    ]
    member_text = " ".join(r.text for r in member_reads)
    assert all(text in member_text for text in texts.values() if text != texts["admin-notes"])
    assert texts["admin-notes"] in member_text

    # ... the event store holds none of it ...
    events_table = service.app.state.context.store.events
    async with service.engine.connect() as conn:
        stored = (await conn.execute(sa.select(events_table))).mappings().all()
    assert len(stored) == 12
    assert secret not in repr([dict(row) for row in stored])

    # ... nor does anything the relay published ...
    js = service.app.state.context.js
    stream = stream_name("sessions")
    await wait_until(
        lambda: _published(js, stream, len(stored)), timeout=30, message="all events published"
    )
    for sequence in range(1, len(stored) + 1):
        message = await js.get_msg(stream, sequence)
        assert secret.encode() not in message.data
        assert secret not in repr(message.headers)

    # ... and admins and outsiders read none of it, not even in the admin's own answer.
    assert texts["admin-notes"] not in by_admin.text
    reads = [
        f"{url}", f"{url}/sessions", f"/v1/sessions/{session_id}",
        f"/v1/sessions/{planned.json()['session_id']}", f"{url}/goals", f"/v1/goals/{goal_id}",
        f"{url}/feedback", "/v1/events",
    ]  # fmt: skip
    for headers, who in ((service.admin, "admin"), (service.stranger, "stranger")):
        for path in reads:
            response = await client.get(path, headers=headers)
            assert secret not in response.text, (who, path)
    admin_sessions = await client.get(f"{url}/sessions", headers=service.admin)
    assert admin_sessions.status_code == 200
    assert {s["notes"] for s in admin_sessions.json()["items"]} == {None}
    assert {s["topics"] for s in admin_sessions.json()["items"] if s["topics"]} == set()


async def _published(js, stream, count):
    info = await js.stream_info(stream)
    return info.state.messages >= count
