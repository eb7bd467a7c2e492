"""The migration runner: Alembic configured in code, on a connection the kit opens."""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Final, Literal

import sqlalchemy as sa
import structlog
from alembic import command
from alembic.autogenerate import produce_migrations
from alembic.autogenerate.api import AutogenContext
from alembic.config import Config
from alembic.operations.ops import (
    AlterColumnOp,
    MigrateOperation,
    MigrationScript,
    ModifyTableOps,
    OpContainer,
)
from alembic.runtime.migration import MigrationContext, MigrationInfo
from alembic.script import Script, ScriptDirectory
from alembic.util.exc import CommandError
from opentelemetry import trace
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from mentorship_kit.db import create_engine
from mentorship_kit.leader import lock_key

log = structlog.get_logger(__name__)
tracer = trace.get_tracer(__name__)

# env.py and script.py.mako: the one Alembic environment every service uses.
ENVIRONMENT: Final = Path(__file__).parent
_SERVICE_NAME: Final = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
# A revision file is named by its date first, so that a folder listing reads in order.
_FILE_TEMPLATE: Final = "%%(year)d_%%(month).2d_%%(day).2d_%%(rev)s_%%(slug)s"
_VERSION_TABLE_PREFIX: Final = "alembic_version_"
# The same comparison for autogenerate and for the schema check: what a test reports as
# a difference is what a new revision would contain.
_COMPARE: Final = {"compare_type": True, "compare_server_default": True}


class MigrationError(Exception):
    """The schema could not be brought to head; the database was left as it was."""


class SchemaMismatchError(MigrationError):
    """A database made before migrations differs from what the code declares."""

    def __init__(self, service: str, differences: Sequence[Any]) -> None:
        self.differences = list(differences)
        listed = "; ".join(describe_difference(d) for d in self.differences)
        super().__init__(
            f"{service}: the database was created before migrations and differs from "
            f"the baseline revision ({listed}); nothing was changed. Bring those tables in "
            "line by hand (or restore them), then run the migration again."
        )


@dataclass(frozen=True)
class Migrations:
    """One service's schema history: its tables and the folder of its revisions."""

    service: str
    metadata: sa.MetaData
    versions: Path

    def __post_init__(self) -> None:
        if not _SERVICE_NAME.match(self.service):
            msg = f"service name {self.service!r} must match {_SERVICE_NAME.pattern}"
            raise ValueError(msg)

    @property
    def version_table(self) -> str:
        """One per service, so that the version of one never reads as another's."""
        return f"{_VERSION_TABLE_PREFIX}{self.service}"

    def config(self, connection: Connection | None = None) -> Config:
        """The Alembic configuration env.py reads, with ``connection`` to run on."""
        config = Config()
        for option, value in (
            ("script_location", str(ENVIRONMENT)),
            ("version_locations", str(self.versions)),
            ("path_separator", "os"),
        ):
            # ConfigParser interpolates '%': a path must not be read as a template.
            config.set_main_option(option, value.replace("%", "%%"))
        config.set_main_option("file_template", _FILE_TEMPLATE)
        config.attributes.update(migrations=self, connection=connection, applied=[])
        return config


class SchemaState(StrEnum):
    CURRENT = "current"  # at this release's head
    BEHIND = "behind"  # empty, made before migrations, or an older revision
    AHEAD = "ahead"  # at a revision this release does not know: a newer one migrated it


@dataclass(frozen=True)
class SchemaStatus:
    service: str
    state: SchemaState
    current: tuple[str, ...]
    head: str
    pre_migration: bool  # the service's tables are there, its version table is not

    def describe(self) -> str:
        at = ", ".join(self.current)
        if self.state is SchemaState.CURRENT:
            return f"at revision {self.head} (head)"
        if self.state is SchemaState.AHEAD:
            return (
                f"at revision {at}, which this release does not know (its head is "
                f"{self.head}): a newer release migrated the database"
            )
        if self.pre_migration:
            return (
                f"from before migrations (no table {_VERSION_TABLE_PREFIX}{self.service}); "
                f"this release needs revision {self.head}"
            )
        if not self.current:
            return f"empty; this release needs revision {self.head}"
        return f"at revision {at}; this release needs revision {self.head}"


@dataclass(frozen=True)
class UpgradeResult:
    service: str
    before: tuple[str, ...]
    head: str
    applied: tuple[str, ...]  # the revisions run, in order
    stamped: str | None  # the baseline a database made before migrations was stamped at


async def upgrade(engine: AsyncEngine, migrations: Migrations) -> UpgradeResult:
    """Bring the database to head in one transaction; see the package docstring."""
    with tracer.start_as_current_span(
        "migrations.upgrade", attributes={"mentorship.service": migrations.service}
    ):
        async with engine.begin() as conn:
            result = await conn.run_sync(_upgrade, migrations)
    log.info(
        "migrations.at_head",
        service=migrations.service,
        revision=result.head,
        before=list(result.before),
        applied=len(result.applied),
    )
    return result


async def schema_status(engine: AsyncEngine, migrations: Migrations) -> SchemaStatus:
    """Where the database stands against this release's revisions; changes nothing."""
    async with engine.connect() as conn:
        return await conn.run_sync(_status, migrations)


async def schema_differences(engine: AsyncEngine, migrations: Migrations) -> list[Any]:
    """Alembic's autogenerate comparison of the database with the declared tables."""
    async with engine.connect() as conn:
        return await conn.run_sync(_differences, migrations)


@dataclass(frozen=True)
class NewRevision:
    path: Path
    empty: bool  # no difference found: the upgrade is to be written by hand


async def new_revision(
    migrations: Migrations, message: str, *, database_url: str | None = None
) -> NewRevision:
    """Write a revision autogenerated from what the revisions do not build yet.

    The comparison runs against a scratch SQLite database upgraded to head, or against
    ``database_url`` (upgraded to head first). The file is formatted with the ruff of
    this environment when there is one; review it before committing.
    """
    with tempfile.TemporaryDirectory(prefix="mentorship-revision-") as scratch:
        engine = create_engine(database_url or f"sqlite+aiosqlite:///{scratch}/scratch.db")
        try:
            if _script(migrations.config(), migrations).get_heads():
                await upgrade(engine, migrations)
            # else the first revision of the service: it compares with an empty database.
            async with engine.begin() as conn:
                return await conn.run_sync(_autogenerate, migrations, message)
        finally:
            await engine.dispose()


def environment_options(config: Config) -> dict[str, Any]:
    """What env.py passes to ``context.configure``: all of it set up by this module."""
    migrations = config.attributes.get("migrations")
    connection = config.attributes.get("connection")
    if not isinstance(migrations, Migrations) or connection is None:
        msg = "run migrations with `mentorship migrate`; the kit opens the connection"
        raise MigrationError(msg)
    return {
        "connection": connection,
        "target_metadata": migrations.metadata,
        "version_table": migrations.version_table,
        "include_name": _include_name,
        "render_item": _render_item,
        # Batch operations: an ALTER that SQLite lacks is done by copying the table
        # there, and is a plain ALTER on PostgreSQL.
        "render_as_batch": True,
        "on_version_apply": [_log_applied(migrations.service, config.attributes["applied"])],
        **_COMPARE,
    }


def describe_difference(difference: Any) -> str:
    """One of compare_metadata's entries as a line a developer can act on."""
    if isinstance(difference, list):
        return "; ".join(describe_difference(item) for item in difference)
    kind, *details = difference
    if kind.startswith("modify_"):
        _schema, table, column, _existing, found, declared = details
        return f"{kind} {table}.{column}: {found!r} in the database, {declared!r} declared"
    return " ".join([kind, *(_name(item) for item in details if _is_schema_item(item))])


def _is_schema_item(item: Any) -> bool:
    return isinstance(item, sa.Table | sa.Column | sa.Index | sa.Constraint)


def _name(item: sa.Table | sa.Column[Any] | sa.Index | sa.Constraint) -> str:
    if isinstance(item, sa.Table):
        return item.name
    if isinstance(item, sa.Column):
        return f"{item.table.name}.{item.name}"
    table = getattr(item, "table", None)
    return f"{item.name} on {table.name}" if table is not None else str(item.name)


def _include_name(name: str | None, type_: str, _parents: dict[str, str | None]) -> bool:
    # Another service's version table (tests may share a database) is none of ours.
    return not (type_ == "table" and name is not None and name.startswith(_VERSION_TABLE_PREFIX))


def _render_item(kind: str, item: Any, context: AutogenContext) -> str | Literal[False]:
    if kind != "type":
        return False
    # Compared on SQLite, PostgreSQL's JSONB is rendered with a bare, unimported
    # `Text()` (its astext_type); JSONB() means the same and needs nothing more.
    if isinstance(item, postgresql.JSONB):
        context.imports.add("from sqlalchemy.dialects import postgresql")
        return "postgresql.JSONB()"
    # A revision must not import the application, whose code moves on after it: a
    # TypeDecorator is written as the SQLAlchemy type it stores.
    if isinstance(item, sa.TypeDecorator) and type(item.impl).__module__.startswith(
        "sqlalchemy.sql"
    ):
        return f"sa.{item.impl!r}"
    return False


def _log_applied(service: str, applied: list[str]) -> Callable[..., None]:
    def on_version_apply(*, step: MigrationInfo, **_: object) -> None:
        if step.is_stamp or step.up_revision_id is None:
            return
        applied.append(step.up_revision_id)
        revision = step.up_revision
        log.info(
            "migrations.applied",
            service=service,
            revision=step.up_revision_id,
            description=revision.doc if isinstance(revision, Script) else None,
            direction="upgrade" if step.is_upgrade else "downgrade",
        )

    return on_version_apply


def _upgrade(conn: Connection, migrations: Migrations) -> UpgradeResult:
    if conn.dialect.name == "postgresql":
        # Replicas start together: the second waits here until the first commits, then
        # finds the database at head. The lock ends with the transaction. (SQLite began
        # the transaction with BEGIN IMMEDIATE: it holds the database's one write lock.)
        key = lock_key(f"migrations:{migrations.service}")
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))
    config = migrations.config(conn)
    script = _script(config, migrations)
    head = _only(script.get_heads(), "head", migrations)
    before = _current(conn, migrations)
    stamped = None
    try:
        if not before and _present_tables(conn, migrations):
            stamped = _only(script.get_bases(), "base", migrations)
            command.stamp(config, stamped)
            log.warning(
                "migrations.stamped_pre_migration_database",
                service=migrations.service,
                revision=stamped,
                detail="the service's tables were there without a version table",
            )
        command.upgrade(config, "head")
    except CommandError as exc:
        raise MigrationError(f"{migrations.service}: {exc}") from exc
    if stamped is not None:
        # A table the baseline does not know is left alone: the code never reads it.
        differences = [d for d in _differences(conn, migrations) if _kind(d) != "remove_table"]
        if differences:
            raise SchemaMismatchError(migrations.service, differences)
    return UpgradeResult(
        service=migrations.service,
        before=before,
        head=head,
        applied=tuple(config.attributes["applied"]),
        stamped=stamped,
    )


def _status(conn: Connection, migrations: Migrations) -> SchemaStatus:
    script = _script(migrations.config(), migrations)
    head = _only(script.get_heads(), "head", migrations)
    current = _current(conn, migrations)
    pre_migration = False
    if current == (head,):
        state = SchemaState.CURRENT
    elif not current:
        state = SchemaState.BEHIND
        pre_migration = bool(_present_tables(conn, migrations))
    elif all(_known(script, revision) for revision in current):
        state = SchemaState.BEHIND
    else:
        state = SchemaState.AHEAD
    return SchemaStatus(
        service=migrations.service,
        state=state,
        current=current,
        head=head,
        pre_migration=pre_migration,
    )


def _differences(conn: Connection, migrations: Migrations) -> list[Any]:
    context = MigrationContext.configure(
        conn,
        opts={
            "version_table": migrations.version_table,
            "target_metadata": migrations.metadata,
            "include_name": _include_name,
            **_COMPARE,
        },
    )
    # What compare_metadata returns, less what no revision could remove (below).
    upgrade_ops = produce_migrations(context, migrations.metadata).upgrade_ops
    assert upgrade_ops is not None  # noqa: S101 - produce_migrations always makes one
    _drop_unremovable(upgrade_ops, migrations, conn.dialect.name)
    return list(upgrade_ops.as_diffs())


def _drop_unremovable(container: OpContainer, migrations: Migrations, dialect: str) -> None:
    """Remove two column changes autogenerate finds that no revision could make.

    - NOT NULL on a primary-key column declared nullable: PostgreSQL makes every
      primary-key column NOT NULL whatever the table declares (SQLite keeps what it
      declares), and so did create_all;
    - an identity on SQLite, which has none (an INTEGER PRIMARY KEY numbers itself): the
      declared Identity() is nowhere to be found there.
    """
    kept: list[MigrateOperation] = []
    for operation in container.ops:
        if isinstance(operation, ModifyTableOps):
            _drop_unremovable(operation, migrations, dialect)
            if not operation.is_empty():
                kept.append(operation)
        elif isinstance(operation, AlterColumnOp):
            table = migrations.metadata.tables.get(operation.table_name)
            if table is not None and operation.column_name in table.c:
                column = table.c[operation.column_name]
                if column.primary_key:
                    operation.modify_nullable = None
                if dialect == "sqlite" and isinstance(column.server_default, sa.Identity):
                    operation.modify_server_default = False
            if operation.has_changes():
                kept.append(operation)
        else:
            kept.append(operation)
    container.ops = kept


def _autogenerate(conn: Connection, migrations: Migrations, message: str) -> NewRevision:
    config = migrations.config(conn)
    _formatting_hooks(config)
    empty: list[bool] = []

    def review(context: MigrationContext, _revision: object, directives: list[Any]) -> None:
        script = directives[0]
        assert isinstance(script, MigrationScript)  # noqa: S101 - what autogenerate passes
        for upgrade_ops in script.upgrade_ops_list:
            _drop_unremovable(upgrade_ops, migrations, context.dialect.name)
        script.downgrade_ops = [ops.reverse() for ops in script.upgrade_ops_list]
        empty.append(all(ops.is_empty() for ops in script.upgrade_ops_list))

    try:
        written = command.revision(
            config,
            message=message,
            autogenerate=True,
            process_revision_directives=review,
        )
    except CommandError as exc:
        raise MigrationError(f"{migrations.service}: {exc}") from exc
    if not isinstance(written, Script) or written.path is None:
        msg = f"{migrations.service}: Alembic wrote no single revision ({written!r})"
        raise MigrationError(msg)
    return NewRevision(path=Path(written.path), empty=all(empty))


def _formatting_hooks(config: Config) -> None:
    """Run the environment's ruff on a new revision: fix what it can, then format."""
    ruff = Path(sys.executable).with_name("ruff")
    found = str(ruff) if ruff.exists() else shutil.which("ruff")
    if found is None:
        return
    hooks = {
        "ruff_fix": "check --fix --exit-zero --quiet REVISION_SCRIPT_FILENAME",
        "ruff_format": "format --quiet REVISION_SCRIPT_FILENAME",
    }
    config.set_section_option("post_write_hooks", "hooks", " ".join(hooks))
    for name, options in hooks.items():
        config.set_section_option("post_write_hooks", f"{name}.type", "exec")
        config.set_section_option("post_write_hooks", f"{name}.executable", found)
        config.set_section_option("post_write_hooks", f"{name}.options", options)


def _script(config: Config, migrations: Migrations) -> ScriptDirectory:
    if not migrations.versions.is_dir():
        msg = f"{migrations.service}: no revisions folder at {migrations.versions}"
        raise MigrationError(msg)
    return ScriptDirectory.from_config(config)


def _only(revisions: Sequence[str], what: str, migrations: Migrations) -> str:
    if len(revisions) == 1:
        return revisions[0]
    if not revisions:
        msg = f"{migrations.service}: no revisions in {migrations.versions}"
        raise MigrationError(msg)
    msg = (
        f"{migrations.service} has {len(revisions)} {what} revisions "
        f"({', '.join(sorted(revisions))}) in {migrations.versions}; two revisions were "
        "written in parallel: make one the down_revision of the other"
    )
    raise MigrationError(msg)


def _current(conn: Connection, migrations: Migrations) -> tuple[str, ...]:
    context = MigrationContext.configure(conn, opts={"version_table": migrations.version_table})
    return tuple(context.get_current_heads())


def _present_tables(conn: Connection, migrations: Migrations) -> set[str]:
    return set(sa.inspect(conn).get_table_names()) & set(migrations.metadata.tables)


def _known(script: ScriptDirectory, revision: str) -> bool:
    try:
        return script.get_revision(revision) is not None
    except CommandError:
        return False


def _kind(difference: Any) -> str:
    first = difference[0] if isinstance(difference, list) else difference
    return str(first[0])
