"""Throw-away PostgreSQL databases on the server named by TEST_DATABASE_URL."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from sqlalchemy.engine import URL

from mentorship_kit.db import normalize_url


def test_database_url() -> str | None:
    return os.environ.get("TEST_DATABASE_URL") or None


@asynccontextmanager
async def temporary_postgres_database(
    server_url: str | None = None, *, prefix: str = "mtest"
) -> AsyncIterator[str]:
    """Create a fresh database, yield its SQLAlchemy URL, drop it (forcibly) afterwards."""
    base = server_url or test_database_url()
    if base is None:
        msg = "TEST_DATABASE_URL is not set"
        raise RuntimeError(msg)
    url = normalize_url(base)
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin_dsn = _plain_dsn(url.set(database="postgres"))
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        admin = await asyncpg.connect(admin_dsn)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def _plain_dsn(url: URL) -> str:
    """asyncpg wants ``postgresql://``, not SQLAlchemy's ``postgresql+asyncpg://``."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def asyncpg_dsn(sqlalchemy_url: str) -> str:
    """The same database as a DSN plain asyncpg accepts (benchmarks' raw floor)."""
    return _plain_dsn(normalize_url(sqlalchemy_url))
