"""The query tables are a projection of the event store: rebuilt from history they are
row for row what the inline projection built."""

from datetime import timedelta

import sqlalchemy as sa

from mentorship_kit.projection import rebuild, store_events
from mentorship_kit.testing import wait_until
from sessions.adapters.tables import QUERY_TABLES
from sessions.adapters.views import SessionViews

from .conftest import TODAY


async def rows(engine):
    async with engine.connect() as conn:
        return {
            table.name: sorted(
                (tuple(row) for row in (await conn.execute(sa.select(table))).all()), key=repr
            )
            for table in QUERY_TABLES
        }


async def test_rebuilt_query_tables_equal_the_inline_ones(service):
    client = service.client
    pair = await service.pair()
    url = f"/v1/pairs/{pair.pair_id}"
    held = await client.post(
        f"{url}/sessions", json={"status": "held", "duration_minutes": 30}, headers=pair.mentor
    )
    planned = await client.post(
        f"{url}/sessions",
        json={"status": "scheduled", "scheduled_for": f"{TODAY + timedelta(days=3)}T09:00:00Z",
              "duration_minutes": 30},
        headers=pair.mentor,
    )  # fmt: skip
    await client.post(f"/v1/sessions/{planned.json()['session_id']}/cancel", headers=pair.mentee)
    goal = await client.post(
        f"{url}/goals", json={"title": "g", "milestones": [{"title": "m"}]}, headers=pair.mentee
    )
    milestone = goal.json()["milestones"][0]["milestone_id"]
    await client.post(
        f"/v1/goals/{goal.json()['goal_id']}/milestones/{milestone}/complete", headers=pair.mentee
    )
    await client.patch(
        f"/v1/goals/{goal.json()['goal_id']}", json={"status": "achieved"}, headers=pair.mentee
    )
    await client.post(
        f"{url}/feedback",
        json={"kind": "session", "rating": 5, "session_id": held.json()["session_id"]},
        headers=pair.mentee,
    )
    await client.post(
        f"{url}/check-ins", json={"relationship_quality": 4, "nps": 8}, headers=pair.mentor
    )
    await client.post(f"{url}/fit-check", json={"fits": True}, headers=pair.mentor)

    context = service.app.state.context
    incremental = await rows(context.engine)
    # On PostgreSQL the commit-safe order withholds events while any older transaction of
    # the cluster is still open (other databases' too): wait until all are readable.
    total = await context.store.count()
    await wait_until(
        lambda: _readable(context.store, total), timeout=30, message="every event readable"
    )
    result = await rebuild(SessionViews(), context.engine, store_events(context.store, "sessions"))
    rebuilt = await rows(context.engine)

    assert result.events == total
    assert {name: len(table) for name, table in incremental.items()} == {
        "sessions": 2,
        "goals": 1,
        "milestones": 1,
        "feedback": 3,
    }
    assert rebuilt == incremental


async def _readable(store, total):
    return len(await store.read_all(limit=total + 1)) == total
