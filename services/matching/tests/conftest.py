"""Test support for the matching service.

Tests run in importlib mode, where a test folder is not on ``sys.path``; the shared
helpers (``matching_support``) live next to this file, so it is put there.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import httpx
import pytest
from matching_support import Clock, Harness, build_app


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def service(database_url, nats_server, clock):
    app = build_app(database_url, nats_server.url, clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://matching") as client:
            yield Harness(app, client, clock)
