"""Test support for the enrollment service.

Tests run in importlib mode, where a test folder is not on ``sys.path``; the shared
builders (``enrollment_factories``) live next to this file, so it is put there.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import httpx
import pytest

from enrollment.config import EnrollmentSettings
from enrollment.main import create_app
from mentorship_kit.auth import issue_dev_token
from mentorship_kit.settings import DEFAULT_DEV_SECRET


def bearer(*roles: str, sub: str | None = None) -> dict[str, str]:
    token = issue_dev_token(DEFAULT_DEV_SECRET, roles=roles, sub=sub)
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def settings(database_url, nats_server):
    return EnrollmentSettings(
        dev_mode=True,
        database_url=database_url,
        nats_url=nats_server.url,
        log_level="WARNING",
        log_json=False,
        # Bounds teardown: the kit's relay can miss a stop requested while it is still
        # starting (seen on PostgreSQL; reported), and would hold each test 20 s.
        shutdown_timeout_seconds=3,
    )


@pytest.fixture
async def app(settings):
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app):
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://enrollment.test") as http:
        yield http


ADMIN = bearer("admin")
HRIS = bearer("hris")
MANAGER = bearer("program_manager")


def person(**overrides):
    """The fields of PUT /v1/employees/{id}: a valid employee, overridable."""
    fields = {
        "email": "ada@example.com",
        "given_name": "Ada",
        "family_name": "Lovelace",
        "department": "Engineering",
        "title": "Engineer",
        "job_level": 3,
        "manager_id": None,
        "location": "London",
        "timezone": "Europe/London",
        "languages": ["en"],
        "hired_on": "2020-01-01",
    }
    fields.update(overrides)
    return fields


def program_body(**overrides):
    body = {
        "name": "Leadership",
        "objective": "Grow leaders",
        "formats": ["one_to_one"],
        "tracks": ["leadership"],
        "starts_on": "2025-01-01",
        "cadence_days": 14,
        "mentor_capacity": 3,
        "approval": "auto",
    }
    body.update(overrides)
    return body


async def put_employee(client, employee_id, **overrides):
    response = await client.put(
        f"/v1/employees/{employee_id}", json=person(**overrides), headers=HRIS
    )
    assert response.status_code in {200, 201}, response.text
    return response.json()


async def open_program(client, **overrides):
    created = await client.post("/v1/programs", json=program_body(**overrides), headers=ADMIN)
    assert created.status_code == 201, created.text
    program_id = created.json()["id"]
    opened = await client.post(f"/v1/programs/{program_id}/open", headers=ADMIN)
    assert opened.status_code == 200, opened.text
    return program_id


async def stored_events(app, stream_id):
    store = app.state.context.store
    async with store.engine.connect() as conn:
        return await store.read_stream(conn, stream_id)
