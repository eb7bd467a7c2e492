"""Both read models can be dropped and rebuilt from history, on SQLite and PostgreSQL:
matching's views from its own event store, the pool from enrollment's JetStream stream;
the rebuilt tables equal the incrementally built ones."""

import sqlalchemy as sa
from matching_support import (
    ADMIN,
    TODAY,
    Publisher,
    enroll_over_nats,
    participant,
    program_settings,
    unique,
)

from matching.adapters.pool import PoolProjection
from matching.adapters.views import MatchingViews
from matching.entrypoints.consumers import POOL_CONSUMER
from mentorship_contracts.enrollment import ProgramCreated, ProgramOpened
from mentorship_kit.projection import jetstream_events, rebuild, store_events
from mentorship_kit.testing import wait_until


async def rows(service, table: sa.Table) -> list[tuple]:
    async with service.engine.connect() as conn:
        result = await conn.execute(sa.select(table))
        return sorted((tuple(str(v) for v in row) for row in result), key=repr)


async def snapshot(service, projection) -> dict[str, list[tuple]]:
    return {t.name: await rows(service, t) for t in projection.tables}


async def test_the_views_rebuilt_from_the_event_store_equal_the_live_ones(service):
    pool = service.enrollment()
    program_id = await pool.program(capacity=2)
    people = {name: unique(name) for name in ("m1", "m2", "e1", "e2", "e3")}
    for name, employee_id in people.items():
        role = "mentor" if name.startswith("m") else "mentee"
        await pool.enroll(program_id, employee_id, role, offered=["go"], sought=["go"])
    await service.client.post(
        f"/v1/programs/{program_id}/blocked-pairs",
        json={"employee_ids": [people["m1"], people["e3"]]},
        headers=ADMIN,
    )
    run = (await service.run(program_id, breakdown_by="location")).json()
    published = (await service.publish(run["id"])).json()
    first, second = (p["pair_id"] for p in published["pairs"][:2])
    await service.client.post(f"/v1/pairs/{first}/accept", headers=ADMIN)
    await service.client.post(f"/v1/pairs/{first}/end", json={"reason": "other"}, headers=ADMIN)
    await service.client.post(f"/v1/pairs/{second}/decline", headers=ADMIN)
    late = unique("e4")
    await pool.enroll(program_id, late, "mentee", sought=["go"])
    request = await service.client.post(
        f"/v1/programs/{program_id}/mentor-requests",
        json={"mentor_ids": [people["m1"], people["m2"]]},
        headers=participant(late),
    )
    assert request.status_code == 201, request.text
    views = MatchingViews()
    live = await snapshot(service, views)
    assert all(live[name] for name in ("match_runs", "pairs", "mentor_requests"))

    result = await rebuild(
        views, service.engine, store_events(service.app.state.context.store, "matching")
    )

    assert result.gaps == 0
    assert await snapshot(service, views) == live


async def test_the_pool_rebuilt_from_jetstream_equals_the_consumer_built_one(service):
    publisher = Publisher(service)
    program_id = unique("prog")
    await publisher.publish(
        f"program-{program_id}",
        ProgramCreated(program_id=program_id, settings=program_settings(["one_to_one"], 2)),
    )
    await publisher.publish(
        f"program-{program_id}", ProgramOpened(program_id=program_id, opened_on=TODAY)
    )
    for index in range(3):
        await enroll_over_nats(publisher, program_id, unique(f"p{index}"), "mentee")

    async def fed() -> bool:
        body = await service.client.get(f"/v1/programs/{program_id}/pool", headers=ADMIN)
        return body.status_code == 200 and len(body.json()["items"]) == 3

    await wait_until(fed, timeout=30, message="the pool fed from JetStream")
    projection = PoolProjection()
    live = await snapshot(service, projection)

    js = service.app.state.context.js
    result = await rebuild(
        projection, service.engine, jetstream_events(js, "enrollment"), consumer=POOL_CONSUMER
    )

    assert result.events == 2 + 3 * 2
    assert await snapshot(service, projection) == live
