"""The `mentorship` command: dev tokens the services accept, migrations, the relay rewind."""

from __future__ import annotations

import asyncio
import importlib
import shutil
from datetime import timedelta

import jwt
import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from mentorship_kit import cli
from mentorship_kit.auth import TokenVerifier
from mentorship_kit.cli import main
from mentorship_kit.db import create_engine
from mentorship_kit.eventstore import START, Checkpoint, EventStore
from mentorship_kit.migrations import Migrations
from mentorship_kit.relay import relay_checkpoint, rewind
from mentorship_kit.settings import DEFAULT_DEV_SECRET, ServiceSettings
from mentorship_kit.testing import free_port

TEAM_SECRET = "a-team-secret-that-is-long-enough-for-hs256"  # noqa: S105 - a test's own secret


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in (
        "AUTH_DEV_SECRET", "AUTH_ISSUER", "AUTH_AUDIENCE", "DATABASE_URL", "LOG_JSON", "LOG_LEVEL",
    ):  # fmt: skip
        monkeypatch.delenv(name, raising=False)


def issued_token(capsys, *argv: str) -> str:
    assert main(["token", *argv]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1, "only the token, so that $(mentorship token ...) works"
    return out.strip()


def test_token_carries_roles_and_sub_signed_with_the_default_dev_secret(capsys):
    token = issued_token(capsys, "--role", "participant", "--sub", "E-1042")

    claims = jwt.decode(token, DEFAULT_DEV_SECRET, algorithms=["HS256"])

    assert claims["sub"] == "E-1042"
    assert claims["roles"] == ["participant"]
    assert claims["exp"] - claims["iat"] == 12 * 3600


def test_repeated_roles_and_ttl(capsys):
    token = issued_token(
        capsys, "--role", "admin", "--role", "program_manager", "--ttl-minutes", "5"
    )

    claims = jwt.decode(token, DEFAULT_DEV_SECRET, algorithms=["HS256"])

    assert claims["roles"] == ["admin", "program_manager"]
    assert claims["sub"] == "dev-admin"
    assert claims["exp"] - claims["iat"] == timedelta(minutes=5).total_seconds()


async def test_a_dev_mode_service_accepts_the_token_and_a_production_one_refuses_it(capsys):
    token = issued_token(capsys, "--role", "hris")

    principal = await TokenVerifier(ServiceSettings(dev_mode=True)).verify(token)
    production = TokenVerifier(
        ServiceSettings(dev_mode=False, auth_jwks_url="https://idp.example/jwks")
    )

    assert principal.roles == frozenset({"hris"})
    with pytest.raises(Exception, match="dev mode only"):
        await production.verify(token)


async def test_the_environment_s_secret_issuer_and_audience_are_used(capsys, monkeypatch):
    monkeypatch.setenv("AUTH_DEV_SECRET", TEAM_SECRET)
    monkeypatch.setenv("AUTH_ISSUER", "https://idp.example")
    monkeypatch.setenv("AUTH_AUDIENCE", "mentorship")
    token = issued_token(capsys, "--role", "admin")
    settings = ServiceSettings(
        dev_mode=True,
        auth_dev_secret=TEAM_SECRET,
        auth_issuer="https://idp.example",
        auth_audience="mentorship",
    )

    principal = await TokenVerifier(settings).verify(token)

    assert principal.roles == frozenset({"admin"})
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, DEFAULT_DEV_SECRET, algorithms=["HS256"], audience="mentorship")


def test_a_participant_token_needs_an_employee_id(capsys):
    assert main(["token", "--role", "participant"]) == 2

    assert "employee id" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["token"],
        ["token", "--role", "superuser"],
        ["token", "--role", "admin", "--ttl-minutes", "0"],
        ["relay", "rewind", "--service", "billing"],
    ],
)
def test_bad_arguments_exit_2(argv):
    with pytest.raises(SystemExit) as exited:
        main(argv)

    assert exited.value.code == 2


def _store_with_checkpoint(url: str, checkpoint: Checkpoint) -> None:
    async def arrange() -> None:
        engine = create_engine(url)
        try:
            store = EventStore(engine)
            await store.create_schema()
            await rewind(store, to=checkpoint)
        finally:
            await engine.dispose()

    asyncio.run(arrange())


def _checkpoint(url: str) -> Checkpoint:
    async def read() -> Checkpoint:
        engine = create_engine(url)
        try:
            return await relay_checkpoint(EventStore(engine))
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_relay_rewind_to_start_in_the_database_make_run_uses(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MENTORSHIP_VAR_DIR", str(tmp_path))
    url = f"sqlite+aiosqlite:///{tmp_path / 'matching.db'}"
    _store_with_checkpoint(url, Checkpoint(0, 41))

    assert main(["relay", "rewind", "--service", "matching"]) == 0

    assert _checkpoint(url) == START
    assert "checkpoint 0-41 -> 0-0" in capsys.readouterr().out


def test_relay_rewind_uses_database_url_as_the_service_does(tmp_path, monkeypatch, capsys):
    url = f"sqlite+aiosqlite:///{tmp_path / 'from-env.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    _store_with_checkpoint(url, Checkpoint(0, 12))

    assert main(["relay", "rewind", "--service", "enrollment"]) == 0

    assert _checkpoint(url) == START


def test_relay_rewind_to_a_checkpoint_with_an_explicit_database(tmp_path, capsys):
    url = f"sqlite+aiosqlite:///{tmp_path / 'elsewhere.db'}"
    _store_with_checkpoint(url, Checkpoint(0, 90))

    argv = ["relay", "rewind", "--service", "sessions", "--database-url", url, "--to", "0-7"]
    assert main(argv) == 0

    assert _checkpoint(url) == Checkpoint(0, 7)


def test_relay_rewind_refuses_a_bad_checkpoint_and_a_missing_database(tmp_path, capsys):
    url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    _store_with_checkpoint(url, Checkpoint(0, 3))
    missing = f"sqlite+aiosqlite:///{tmp_path / 'missing.db'}"

    bad_checkpoint = ["relay", "rewind", "--service", "analytics", "--database-url", url]
    assert main([*bad_checkpoint, "--to", "yesterday"]) == 2
    assert "malformed checkpoint" in capsys.readouterr().err
    assert main(["relay", "rewind", "--service", "analytics", "--database-url", missing]) == 2
    assert "no database at" in capsys.readouterr().err
    assert main(["relay", "rewind", "--service", "analytics", "--database-url", "mysql://h/d"]) == 2
    assert "unsupported database URL" in capsys.readouterr().err
    assert _checkpoint(url) == Checkpoint(0, 3)
    assert not (tmp_path / "missing.db").exists()


def _tables(url: str) -> set[str]:
    async def read() -> set[str]:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                names = await conn.run_sync(lambda sync: sa.inspect(sync).get_table_names())
        finally:
            await engine.dispose()
        return set(names)

    return asyncio.run(read())


def _migrations(service: str) -> Migrations:
    migrations = importlib.import_module(f"{service}.bootstrap").build_spec().schema_migrations()
    assert migrations is not None
    return migrations


def _revisions(migrations: Migrations) -> list[str]:
    """Every revision of the service, oldest first."""
    script = ScriptDirectory.from_config(migrations.config())
    return [r.revision for r in reversed(list(script.walk_revisions("base", "heads")))]


def _migrate(service: str, url: str) -> int:
    return main(["migrate", "--service", service, "--database-url", url])


@pytest.mark.parametrize("service", ["enrollment", "analytics"])
def test_migrate_brings_the_database_to_head_once(service, database_url, capsys):
    migrations = _migrations(service)
    revisions = _revisions(migrations)
    head = revisions[-1]

    assert _migrate(service, database_url) == 0
    first = capsys.readouterr()
    assert _migrate(service, database_url) == 0
    second = capsys.readouterr()

    assert _tables(database_url) == {*migrations.metadata.tables, f"alembic_version_{service}"}
    assert first.out == (
        f"{service}: applied {', '.join(revisions)}\n{service}: at revision {head} (head)\n"
    )
    assert second.out == f"{service}: at revision {head} (head)\n"
    # Each applied revision is logged, as JSON on stderr (the service's log format).
    assert '"event":"migrations.applied"' in first.err
    assert f'"revision":"{revisions[0]}"' in first.err
    assert "migrations.applied" not in second.err


def test_migrate_stamps_a_database_made_before_migrations(database_url, capsys):
    migrations = _migrations("sessions")

    async def create_all() -> None:
        engine = create_engine(database_url)
        try:
            await EventStore(engine, metadata=migrations.metadata).create_schema()
        finally:
            await engine.dispose()

    asyncio.run(create_all())

    assert _migrate("sessions", database_url) == 0
    out = capsys.readouterr().out

    baseline = _revisions(migrations)[0]
    assert out.startswith(
        "sessions: the database was created before migrations; stamped at the baseline "
        f"revision {baseline}\n"
    )
    assert out.endswith(f"sessions: at revision {_revisions(migrations)[-1]} (head)\n")
    assert "alembic_version_sessions" in _tables(database_url)


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://postgres:s3cret@127.0.0.1:{free_port()}/nowhere",
        "sqlite+aiosqlite:////dev/null/enrollment.db",
    ],
    ids=["postgres-refused", "sqlite-not-a-folder"],
)
def test_migrate_exits_1_naming_an_unreachable_database(url, capsys):
    assert _migrate("enrollment", url) == 1

    err = capsys.readouterr().err
    assert "mentorship migrate: cannot migrate enrollment's database " in err
    assert "s3cret" not in err
    assert "Traceback" not in err


def test_migrate_new_writes_an_autogenerated_revision(tmp_path, monkeypatch, capsys):
    enrollment = _migrations("enrollment")
    versions = tmp_path / "versions"
    shutil.copytree(enrollment.versions, versions)
    existing = set(versions.glob("*.py"))
    changed = sa.MetaData(naming_convention=enrollment.metadata.naming_convention)
    for table in enrollment.metadata.tables.values():
        table.to_metadata(changed)
    changed.tables["programs"].append_column(sa.Column("archived_on", sa.Date, nullable=True))
    migrations = Migrations("enrollment", changed, versions)
    monkeypatch.setattr(cli, "service_migrations", lambda _service: migrations)

    assert main(["migrate", "--service", "enrollment", "--new", "add programs.archived_on"]) == 0
    out = capsys.readouterr().out
    assert main(["migrate", "--service", "enrollment", "--new", "  "]) == 2

    (written,) = set(versions.glob("*.py")) - existing
    text = written.read_text(encoding="utf-8")
    assert written.name.endswith("_add_programs_archived_on.py")
    assert f"enrollment: wrote {written}\n" in out
    assert "no difference found" not in out
    assert 'batch_op.add_column(sa.Column("archived_on", sa.Date(), nullable=True))' in text
    assert f'down_revision: str | None = "{_revisions(enrollment)[-1]}"' in text
    assert "needs a message" in capsys.readouterr().err
