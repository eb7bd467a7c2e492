"""Every service's Alembic revisions against what its code declares, on both backends.

A developer who changes a table without writing a revision gets a failing test here
that names the service and what differs, and the command that writes the revision.
What must hold for each service:
- its revisions, run on an empty database, build exactly its declared tables: nothing
  for autogenerate to add, and the same columns, constraints (CHECK included, which
  autogenerate does not compare) and indexes as ``create_all`` makes;
- upgrading a database at head again changes nothing;
- a database made by the old ``create_all`` start-up is stamped at the baseline, keeps
  its rows, and then upgrades like any other.
"""

import importlib
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mentorship_kit.db import create_engine
from mentorship_kit.eventstore import EventStore
from mentorship_kit.migrations import (
    Migrations,
    describe_difference,
    schema_differences,
    upgrade,
)
from mentorship_kit.testing import temporary_postgres_database

SERVICES = ("enrollment", "matching", "sessions", "analytics")


def migrations_of(service: str) -> Migrations:
    migrations = importlib.import_module(f"{service}.bootstrap").build_spec().schema_migrations()
    assert migrations is not None, f"{service} declares no migrations"
    return migrations


@asynccontextmanager
async def opened(url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(url)
    try:
        yield engine
    finally:
        await engine.dispose()


@asynccontextmanager
async def another_database(database_url: str, tmp_path) -> AsyncIterator[str]:
    """A second empty database on the same backend as ``database_url``."""
    if database_url.startswith("sqlite"):
        yield f"sqlite+aiosqlite:///{tmp_path / f'other-{uuid.uuid4().hex[:8]}.db'}"
        return
    async with temporary_postgres_database() as url:
        yield url


async def create_all(engine: AsyncEngine, migrations: Migrations) -> None:
    """What every service did at start-up before migrations."""
    await EventStore(engine, metadata=migrations.metadata).create_schema()


@pytest.mark.parametrize("service", SERVICES)
async def test_the_revisions_build_exactly_the_declared_tables(service, database_url, tmp_path):
    migrations = migrations_of(service)
    async with (
        opened(database_url) as migrated,
        another_database(database_url, tmp_path) as other_url,
        opened(other_url) as created,
    ):
        result = await upgrade(migrated, migrations)
        differences = await schema_differences(migrated, migrations)
        await create_all(created, migrations)
        by_revisions, by_create_all = await catalog(migrated), await catalog(created)

    assert result.applied, f"{service}: no revision ran on an empty database"
    assert result.applied[-1] == result.head
    assert differences == [], (
        f"{service}: its declared tables differ from what its migrations build: "
        f"{'; '.join(describe_difference(d) for d in differences)}. Write a revision: "
        f'mentorship migrate --service {service} --new "what changed"'
    )
    hint = f'write a revision: mentorship migrate --service {service} --new "what changed"'
    assert by_revisions - by_create_all == set(), f"{service}: built, not declared; {hint}"
    assert by_create_all - by_revisions == set(), f"{service}: declared, not built; {hint}"


@pytest.mark.parametrize("service", SERVICES)
async def test_upgrading_a_database_at_head_again_changes_nothing(service, database_url):
    migrations = migrations_of(service)
    async with opened(database_url) as engine:
        first = await upgrade(engine, migrations)
        before = await catalog(engine)
        second = await upgrade(engine, migrations)
        after = await catalog(engine)

    assert first.applied
    assert second.before == (first.head,)
    assert second.applied == ()
    assert second.stamped is None
    assert after == before


@pytest.mark.parametrize("service", SERVICES)
async def test_a_database_made_by_create_all_is_stamped_and_upgrades_cleanly(service, database_url):
    migrations = migrations_of(service)
    async with opened(database_url) as engine:
        await create_all(engine, migrations)
        await record_an_event(engine)
        adopted = await upgrade(engine, migrations)
        differences = await schema_differences(engine, migrations)
        again = await upgrade(engine, migrations)
        events = await count_events(engine)

    assert adopted.stamped == baseline_of(migrations)
    assert adopted.before == ()
    # Every revision after the baseline runs on the stamped database (none yet).
    assert adopted.applied == revisions_after_baseline(migrations)
    assert differences == []
    assert again.applied == ()
    assert again.stamped is None
    assert events == 1


def baseline_of(migrations: Migrations) -> str:
    (base,) = _script(migrations).get_bases()
    return base


def revisions_after_baseline(migrations: Migrations) -> tuple[str, ...]:
    script = _script(migrations)
    walked = [r.revision for r in script.walk_revisions("base", "heads")]
    return tuple(reversed(walked))[1:]


def _script(migrations: Migrations) -> ScriptDirectory:
    return ScriptDirectory.from_config(migrations.config())


async def record_an_event(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            sa.text(
                "INSERT INTO events (tx_id, event_id, stream_type, stream_id, stream_version, "
                "event_type, schema_version, data, metadata, recorded_at) VALUES "
                "(0, :event_id, 'test', 'test-1', 1, 'Tested', 1, '{}', '{}', :at)"
            ),
            {"event_id": uuid.uuid4().hex, "at": datetime.now(UTC)},
        )


async def count_events(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(sa.text("SELECT count(*) FROM events"))).scalar_one())


# -- the schema as the database describes it, for comparing two databases -------------

_SQLITE_OBJECTS = (
    "SELECT type, name, tbl_name, sql FROM sqlite_master "
    "WHERE name NOT LIKE 'alembic_version_%' AND name NOT LIKE 'sqlite_%'"
)


async def catalog(engine: AsyncEngine) -> set[tuple]:
    """Columns, constraints and indexes, without the version table, order-free."""
    async with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            return await _sqlite_catalog(conn)
        return await _postgres_catalog(conn)


async def _sqlite_catalog(conn: AsyncConnection) -> set[tuple]:
    rows: set[tuple] = set()
    for kind, name, table, sql in (await conn.exec_driver_sql(_SQLITE_OBJECTS)).all():
        if kind == "index" and sql is not None:  # an index a UNIQUE makes has no SQL
            rows.add(("index", table, name, sql))
        if kind != "table":
            continue
        columns = await conn.exec_driver_sql(f'PRAGMA table_info("{name}")')
        rows |= {("column", name, *column[1:]) for column in columns.all()}
        # Named constraints (CHECK included) as CREATE TABLE states them, one a line.
        for line in sql.splitlines():
            match = re.match(r"\s*CONSTRAINT (\w+) (.+?),?\s*$", line)
            if match:
                rows.add(("constraint", name, match[1], match[2]))
    return rows


async def _postgres_catalog(conn: AsyncConnection) -> set[tuple]:
    columns = await conn.exec_driver_sql(
        "SELECT table_name, column_name, data_type, character_maximum_length, is_nullable, "
        "column_default, is_identity, identity_generation FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name NOT LIKE 'alembic_version_%'"
    )
    constraints = await conn.exec_driver_sql(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE connamespace = current_schema()::regnamespace "
        "AND conrelid::regclass::text NOT LIKE 'alembic_version_%'"
    )
    indexes = await conn.exec_driver_sql(
        "SELECT tablename, indexname, indexdef FROM pg_indexes "
        "WHERE schemaname = current_schema() AND tablename NOT LIKE 'alembic_version_%'"
    )
    return (
        {("column", *row) for row in columns.all()}
        | {("constraint", *row) for row in constraints.all()}
        | {("index", *row) for row in indexes.all()}
    )
