"""Pytest plugin loaded for every test package (``-p mentorship_kit.testing.plugin``).

Fixtures:
- ``database_url``: parametrised over SQLite (always) and PostgreSQL (when
  ``TEST_DATABASE_URL`` is set); each test gets a database of its own.
- ``pg_database_url``: PostgreSQL only; skipped without ``TEST_DATABASE_URL``.
- ``nats_server``: a fresh nats-server with JetStream on a free port.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from mentorship_kit.testing.nats import NatsServer
from mentorship_kit.testing.postgres import temporary_postgres_database, test_database_url

BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(params=BACKENDS)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
        return
    if test_database_url() is None:
        pytest.skip("TEST_DATABASE_URL is not set")
    async with temporary_postgres_database() as url:
        yield url


@pytest.fixture
async def pg_database_url() -> AsyncIterator[str]:
    if test_database_url() is None:
        pytest.skip("TEST_DATABASE_URL is not set")
    async with temporary_postgres_database() as url:
        yield url


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(store_dir=tmp_path / "nats")
    server.start()
    try:
        yield server
    finally:
        server.close()
