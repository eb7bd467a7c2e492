"""The pull feed: every event exactly once across pages while writes continue."""

import asyncio
import uuid

import httpx
import pytest

from mentorship_kit.app import ServiceSpec, create_app
from mentorship_kit.auth import issue_dev_token
from mentorship_kit.eventstore import NO_STREAM, NewEvent, kit_metadata
from mentorship_kit.feed import stream_history
from mentorship_kit.settings import DEFAULT_DEV_SECRET, ServiceSettings
from mentorship_kit.testing import wait_until

ADMIN = {"Authorization": f"Bearer {issue_dev_token(DEFAULT_DEV_SECRET, role='admin', sub='a')}"}


@pytest.fixture
async def service(database_url, nats_server):
    spec = ServiceSpec(name="feedtest", title="Feed", version="0", metadata=kit_metadata())
    settings = ServiceSettings(
        dev_mode=True, database_url=database_url, nats_url=nats_server.url, log_level="WARNING"
    )
    app = create_app(spec, settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            yield http, app.state.context.store


def _event(stream: str, n: int) -> NewEvent:
    return NewEvent(
        stream_type="thing", stream_id=stream, event_type="ThingHappened", data={"n": n}
    )


async def test_paging_while_writing_sees_every_event_exactly_once(service):
    http, store = service
    written: list[str] = []
    stop = asyncio.Event()

    async def writer(w: int) -> None:
        n = 0
        while not stop.is_set():
            stream = f"thing-{w}-{n}"
            event = _event(stream, n)
            async with store.transaction() as conn:
                await store.append(conn, [event], expected_version=NO_STREAM)
            written.append(str(event.event_id))
            n += 1
            await asyncio.sleep(0)

    writers = [asyncio.create_task(writer(w)) for w in range(4)]
    seen: list[str] = []
    cursor = None
    for _ in range(40):
        params = {"limit": 7} | ({"after": cursor} if cursor else {})
        page = (await http.get("/v1/events", params=params, headers=ADMIN)).json()
        seen.extend(item["id"] for item in page["items"])
        cursor = page["next_cursor"]
    stop.set()
    await asyncio.gather(*writers)

    # On PostgreSQL an event becomes readable once no older writing transaction is still
    # open anywhere on the server, so the tail is polled for, not expected at once.
    async def caught_up() -> bool:
        nonlocal cursor
        page = (await http.get("/v1/events", params={"after": cursor}, headers=ADMIN)).json()
        seen.extend(item["id"] for item in page["items"])
        cursor = page["next_cursor"]
        return len(seen) >= len(written)

    await wait_until(caught_up, timeout=30, message="feed caught up")
    assert len(seen) == len(set(seen))
    assert sorted(seen) == sorted(written)


async def test_feed_items_are_cloudevents_and_types_filter(service):
    http, store = service
    async with store.transaction() as conn:
        await store.append(conn, [_event(f"thing-{uuid.uuid4()}", 1)], expected_version=NO_STREAM)

    async def first_page() -> list:
        return (await http.get("/v1/events", headers=ADMIN)).json()["items"]

    item = (await wait_until(first_page, timeout=30, message="event visible"))[0]
    assert item["specversion"] == "1.0"
    assert item["source"] == "/mentorship/feedtest"
    assert item["data"] == {"n": 1}
    filtered = await http.get("/v1/events", params={"types": "PairFormed"}, headers=ADMIN)
    assert filtered.status_code == 200
    assert filtered.json()["items"] == []
    both = await http.get(
        "/v1/events", params=[("types", "PairFormed"), ("types", "ThingHappened")], headers=ADMIN
    )
    assert both.status_code == 422  # ThingHappened is no contract: named in the problem
    assert "ThingHappened" in both.json()["detail"]


async def test_bad_cursor_unknown_type_and_roles_are_problems(service):
    http, _ = service
    bad = await http.get("/v1/events", params={"after": "not-a-cursor"}, headers=ADMIN)
    assert bad.status_code == 400
    assert bad.headers["content-type"].startswith("application/problem+json")
    unknown = await http.get("/v1/events", params={"types": "NoSuchThing"}, headers=ADMIN)
    assert unknown.status_code == 422
    assert "NoSuchThing" in unknown.json()["detail"]
    for empty in ("", "PairFormed,,ThingHappened"):
        blank = await http.get("/v1/events", params={"types": empty}, headers=ADMIN)
        assert blank.status_code == 422, empty
    token = issue_dev_token(DEFAULT_DEV_SECRET, role="participant", sub="emp-1")
    forbidden = await http.get("/v1/events", headers={"Authorization": f"Bearer {token}"})
    assert forbidden.status_code == 403
    assert (await http.get("/v1/events")).status_code == 401


async def test_history_lists_changes_oldest_first(service):
    _, store = service
    stream = f"thing-{uuid.uuid4()}"
    async with store.transaction() as conn:
        await store.append(conn, [_event(stream, 1), _event(stream, 2)], expected_version=0)
    history = await stream_history(store, stream, hide=frozenset({"secret"}))
    assert [(h.version, h.changes) for h in history] == [(1, {"n": 1}), (2, {"n": 2})]
