"""Command endpoints over HTTP: Idempotency-Key replay and refusal, metadata recorded."""

import asyncio
import uuid
from typing import ClassVar

import httpx
import pytest
from fastapi import APIRouter
from pydantic import BaseModel

from mentorship_contracts import EventContract, registry
from mentorship_kit.app import ServiceSpec, create_app
from mentorship_kit.auth import issue_dev_token
from mentorship_kit.commands import CommandTransaction
from mentorship_kit.endpoints import CommandDep
from mentorship_kit.eventstore import kit_metadata
from mentorship_kit.settings import DEFAULT_DEV_SECRET, ServiceSettings


class TallyCounted(EventContract):
    service: ClassVar[str] = "endpointtest"
    aggregate: ClassVar[str] = "tally"
    action: ClassVar[str] = "counted"
    by: int


if not registry().knows("TallyCounted"):
    registry().register(TallyCounted)


class Count(BaseModel):
    by: int


class Counted(BaseModel):
    tally_id: str
    total: int
    event_id: str

    @classmethod
    def of(cls, result: tuple[str, int, str]) -> "Counted":
        return cls(tally_id=result[0], total=result[1], event_id=result[2])


def evolve(state: int | None, event: EventContract) -> int:
    assert isinstance(event, TallyCounted)
    return (state or 0) + event.by


def tally_router() -> APIRouter:
    router = APIRouter()

    @router.post("/v1/tallies/{tally_id}/counts", status_code=201)
    async def count(tally_id: str, body: Count, command: CommandDep) -> Counted:
        async def use_case(tx: CommandTransaction) -> tuple[str, int, str]:
            loaded = await tx.load(tally_id, evolve)
            [recorded] = await tx.append(
                tally_id, [TallyCounted(by=body.by)], expected_version=loaded.version
            )
            return tally_id, (loaded.state or 0) + body.by, str(recorded.event_id)

        result: Counted = await command.execute(use_case, present=Counted.of, status_code=201)
        return result

    return router


def token(sub: str = "emp-1") -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_dev_token(DEFAULT_DEV_SECRET, role='admin', sub=sub)}"}


@pytest.fixture
async def client(database_url, nats_server):
    spec = ServiceSpec(
        name="endpointtest",
        title="Endpoint test",
        version="0.0.1",
        metadata=kit_metadata(),
        routers=[tally_router()],
    )
    settings = ServiceSettings(
        dev_mode=True, database_url=database_url, nats_url=nats_server.url, log_level="WARNING"
    )
    app = create_app(spec, settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http, app


async def test_same_key_same_body_replays_the_first_answer_without_a_second_event(client):
    http, app = client
    tally = f"tally-{uuid.uuid4()}"
    headers = {**token(), "Idempotency-Key": "k-1"}
    first = await http.post(f"/v1/tallies/{tally}/counts", json={"by": 2}, headers=headers)
    again = await http.post(f"/v1/tallies/{tally}/counts", json={"by": 2}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    assert again.headers["Idempotent-Replayed"] == "true"
    store = app.state.context.store
    async with store.engine.connect() as conn:
        assert await store.stream_version(conn, tally) == 1
        [event] = await store.read_stream(conn, tally)
    assert event.metadata.actor == "emp-1"
    assert event.metadata.actor_role == "admin"
    assert event.metadata.correlation_id


async def test_same_key_other_body_is_refused_naming_the_header(client):
    http, _ = client
    tally = f"tally-{uuid.uuid4()}"
    headers = {**token(), "Idempotency-Key": "k-2"}
    await http.post(f"/v1/tallies/{tally}/counts", json={"by": 2}, headers=headers)
    other = await http.post(f"/v1/tallies/{tally}/counts", json={"by": 3}, headers=headers)
    assert other.status_code == 422
    assert other.headers["content-type"].startswith("application/problem+json")
    assert other.json()["errors"][0]["field"] == "header/Idempotency-Key"


async def test_keys_are_per_caller(client):
    http, _ = client
    tally = f"tally-{uuid.uuid4()}"
    for sub in ("emp-1", "emp-2"):
        response = await http.post(
            f"/v1/tallies/{tally}/counts",
            json={"by": 1},
            headers={**token(sub), "Idempotency-Key": "shared"},
        )
        assert response.status_code == 201
        assert "Idempotent-Replayed" not in response.headers
    assert response.json()["total"] == 2


async def test_concurrent_retries_with_one_key_apply_once(client):
    http, app = client
    tally = f"tally-{uuid.uuid4()}"
    headers = {**token(), "Idempotency-Key": "k-race"}
    responses = await asyncio.gather(
        *(
            http.post(f"/v1/tallies/{tally}/counts", json={"by": 1}, headers=headers)
            for _ in range(5)
        )
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["event_id"] for r in responses}) == 1
    store = app.state.context.store
    async with store.engine.connect() as conn:
        assert await store.stream_version(conn, tally) == 1


async def test_an_overlong_key_is_a_validation_problem(client):
    http, _ = client
    response = await http.post(
        "/v1/tallies/t/counts", json={"by": 1}, headers={**token(), "Idempotency-Key": "k" * 300}
    )
    assert response.status_code == 422
    assert "Idempotency-Key" in response.text
