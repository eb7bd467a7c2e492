"""A service built by create_app, run through its lifespan against real NATS and databases."""

import asyncio
import uuid
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import APIRouter, Request
from sqlalchemy import exc as sa_exc

from mentorship_kit.app import ServiceSpec, create_app
from mentorship_kit.auth import CurrentPrincipal, issue_dev_token
from mentorship_kit.context import ContextDep, request_metadata
from mentorship_kit.eventstore import NO_STREAM, NewEvent, kit_metadata
from mentorship_kit.messaging import stream_name
from mentorship_kit.settings import DEFAULT_DEV_SECRET, ServiceSettings
from mentorship_kit.testing import NatsServer, free_port, wait_until

SERVICE = "apptest"
ADMIN = {"Authorization": f"Bearer {issue_dev_token(DEFAULT_DEV_SECRET, role='admin')}"}


def notes_router() -> APIRouter:
    router = APIRouter()

    @router.post("/v1/notes", status_code=201)
    async def add_note(
        request: Request, context: ContextDep, principal: CurrentPrincipal
    ) -> dict[str, str]:
        note_id = uuid.uuid4().hex
        event = NewEvent(
            stream_type="note", stream_id=f"note-{note_id}", event_type="NoteAdded",
            data={"text": "hello"},
        )  # fmt: skip
        async with context.store.transaction() as conn:
            await context.store.append(
                conn, [event], expected_version=NO_STREAM,
                metadata=request_metadata(request, principal),
            )  # fmt: skip
        return {"id": note_id}

    return router


class Recorder:
    """What the test workers did, shared across the instances the supervisor builds."""

    def __init__(self):
        self.runs = 0
        self.cancelled = 0


class CrashOnceWorker:
    def __init__(self, recorder):
        self.recorder = recorder

    async def run(self):
        self.recorder.runs += 1
        if self.recorder.runs == 1:
            raise RuntimeError("first run crashes")
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.recorder.cancelled += 1
            raise


def build(database_url, nats_url, recorder, **settings):
    spec = ServiceSpec(
        name=SERVICE,
        title="App test",
        version="0.0.1",
        metadata=kit_metadata(),
        routers=[notes_router()],
        workers=[lambda _context: CrashOnceWorker(recorder)],
    )
    return create_app(
        spec,
        ServiceSettings(
            dev_mode=True, database_url=database_url, nats_url=nats_url, log_level="WARNING",
            **settings,
        ),
    )  # fmt: skip


@asynccontextmanager
async def running(app):
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def readiness(client):
    return await client.get("/readyz")


async def published(app):
    info = await app.state.context.js.stream_info(stream_name(SERVICE))
    return info.state.messages


async def test_service_serves_probes_and_follows_nats_outages(database_url, nats_server):
    recorder = Recorder()
    app = build(database_url, nats_server.url, recorder)

    async with running(app) as client:
        context = app.state.context
        health = await client.get("/healthz")
        ready = await client.get("/readyz")
        note = await client.post("/v1/notes", headers=ADMIN)
        await wait_until(lambda: published(app), message="the note on JetStream")
        metrics = (await client.get("/metrics")).text

        assert health.json() == {"status": "ok"}
        assert ready.status_code == 200
        assert set(ready.json()["checks"]) == {"database", "nats", "schema", "startup"}
        assert ready.json()["checks"]["schema"] == {
            "status": "ok",
            "detail": "tables created from the metadata (no migrations)",
        }
        assert note.status_code == 201
        assert (
            'http_request_duration_seconds_bucket{le="0.005",method="GET",route="/healthz",'
            f'service="{SERVICE}",status="200"}}'
        ) in metrics

        nats_server.kill()
        down = await wait_until(
            lambda: _status_is(client, 503), timeout=30, message="readyz 503 after NATS died"
        )
        still_alive = await client.get("/healthz")

        assert down.headers["content-type"] == "application/problem+json"
        assert down.json()["checks"]["nats"]["status"] == "failing"
        assert down.json()["checks"]["database"] == {"status": "ok"}
        assert still_alive.status_code == 200

        nats_server.start()
        await wait_until(
            lambda: _status_is(client, 200), timeout=30, message="readyz 200 after NATS came back"
        )

    assert context.nc.is_closed
    assert not hasattr(app.state, "context")


async def _status_is(client, status):
    response = await client.get("/readyz")
    return response if response.status_code == status else None


async def test_start_without_nats_serves_unready_then_recovers(tmp_path):
    recorder = Recorder()
    port = free_port()
    app = build(
        f"sqlite+aiosqlite:///{tmp_path / 'svc.db'}",
        f"nats://127.0.0.1:{port}",
        recorder,
        startup_wait_seconds=0.2,
    )

    async with running(app) as client:
        health = await client.get("/healthz")
        ready = await client.get("/readyz")
        # Writes are accepted meanwhile: the outbox keeps them until NATS is back.
        note = await client.post("/v1/notes", headers=ADMIN)

        assert health.status_code == 200
        assert ready.status_code == 503
        checks = ready.json()["checks"]
        assert checks["nats"]["status"] == "failing"
        assert checks["startup"] == {
            "status": "failing",
            "detail": "waiting for the NATS connection",
        }
        assert note.status_code == 201
        assert recorder.runs == 0  # workers wait for the stream

        with NatsServer(port=port, store_dir=tmp_path / "nats"):
            await wait_until(lambda: _status_is(client, 200), timeout=30, message="readyz 200")
            await wait_until(lambda: published(app), message="the note on JetStream")
            await wait_until(lambda: recorder.runs >= 1, message="workers started")


async def test_crashed_worker_is_restarted_and_cancelled_at_shutdown(tmp_path, nats_server):
    recorder = Recorder()
    app = build(f"sqlite+aiosqlite:///{tmp_path / 'svc.db'}", nats_server.url, recorder)

    async with running(app) as client:
        await wait_until(lambda: recorder.runs == 2, timeout=30, message="restart after crash")
        metrics = (await client.get("/metrics")).text

    assert (
        "mentorship_background_task_restarts_total"
        f'{{service="{SERVICE}",task="build.<locals>.<lambda>"}}'
    ) in metrics
    assert recorder.cancelled == 1


async def test_requests_queue_on_a_fixed_connection_pool_then_answer_503(
    pg_database_url, nats_server
):
    app = build(
        pg_database_url, nats_server.url, Recorder(), database_pool_size=3,
        database_max_overflow=0, database_pool_timeout_seconds=0.5,
    )  # fmt: skip

    async with running(app) as client:
        engine = app.state.context.engine
        held = await _check_out_all(engine)
        exhausted = await client.post("/v1/notes", headers=ADMIN)
        for conn in held:
            await conn.close()
        served = await client.post("/v1/notes", headers=ADMIN)

    assert engine.pool.size() == 3
    assert len(held) <= 3
    assert exhausted.status_code == 503
    assert exhausted.headers["content-type"] == "application/problem+json"
    assert exhausted.headers["retry-after"] == "1"
    assert served.status_code == 201


async def _check_out_all(engine):
    """Every connection the pool gives (the relay holds some), up to the timeout."""
    held = []
    try:
        while len(held) < 10:
            held.append(await engine.connect())
    except sa_exc.TimeoutError:
        return held
    for conn in held:
        await conn.close()
    raise AssertionError("the pool opened more connections than its size")


async def test_admin_routes_docs_and_openapi_are_mounted(tmp_path, nats_server):
    app = build(f"sqlite+aiosqlite:///{tmp_path / 'svc.db'}", nats_server.url, Recorder())
    participant = issue_dev_token(DEFAULT_DEV_SECRET, role="participant", sub="emp-1")

    async with running(app) as client:
        as_admin = await client.get("/v1/admin/dead-letters", headers=ADMIN)
        as_participant = await client.get(
            "/v1/admin/dead-letters", headers={"Authorization": f"Bearer {participant}"}
        )
        anonymous = await client.get("/v1/admin/dead-letters")
        docs = await client.get("/docs")
        openapi = (await client.get("/openapi.json")).json()

    assert as_admin.status_code == 200
    assert as_admin.json()["items"] == []
    assert as_participant.status_code == 403
    assert anonymous.status_code == 401
    assert docs.status_code == 200
    assert {"/healthz", "/readyz", "/v1/notes", "/v1/admin/dead-letters"} <= set(openapi["paths"])


@pytest.mark.parametrize("origin", ["https://portal.example"])
async def test_cors_headers_follow_settings_even_on_problems(tmp_path, nats_server, origin):
    app = build(
        f"sqlite+aiosqlite:///{tmp_path / 'svc.db'}", nats_server.url, Recorder(),
        cors_origins=[origin],
    )  # fmt: skip

    async with running(app) as client:
        allowed = await client.get("/v1/nowhere", headers={"Origin": origin})
        other = await client.get("/v1/nowhere", headers={"Origin": "https://evil.example"})

    assert allowed.status_code == 404
    assert allowed.headers["access-control-allow-origin"] == origin
    assert "access-control-allow-origin" not in other.headers


def test_a_service_that_seals_personal_data_needs_a_master_key_outside_dev_mode():
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from mentorship_kit.personal import define_keys_table

    metadata = kit_metadata()
    spec = ServiceSpec(
        name=SERVICE,
        title="App test",
        version="0.0.1",
        metadata=metadata,
        personal_data_keys=define_keys_table(metadata),
    )
    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    with pytest.raises(ValueError, match="PERSONAL_DATA_KEY"):
        create_app(spec, ServiceSettings(auth_public_key=pem, log_level="WARNING"))
    assert create_app(spec, ServiceSettings(dev_mode=True, log_level="WARNING"))
