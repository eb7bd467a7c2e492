"""Row changes of one shape, written with one statement.

On PostgreSQL the statement goes straight through the driver with one array per
column (``INSERT ... SELECT FROM unnest(...)``, ``UPDATE ... FROM unnest(...)``): one
round trip and one plan for any number of rows, and none of SQLAlchemy's per-row work,
which costs more CPU than the database on a busy 2-core machine. It runs on the
command's connection, inside its transaction. SQLite takes SQLAlchemy's executemany.
"""

from __future__ import annotations

import functools
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from enrollment.adapters.row_changes import Shape, Values
from mentorship_kit.db import transaction_driver

_PG_DIALECT = postgresql.dialect()  # type: ignore[no-untyped-call]  # SQLAlchemy's own


async def write_rows(
    conn: AsyncConnection, table: sa.Table, shape: Shape, rows: list[Values]
) -> None:
    if conn.dialect.name == "postgresql":
        await _write_postgres(conn, table, shape, rows)
    else:
        await conn.execute(_statement(table, shape), _bound(shape, rows))


@functools.cache
def _statement(table: sa.Table, shape: Shape) -> sa.Executable:
    if shape.insert:
        return sa.insert(table)
    return (
        sa.update(table)
        .where(table.c[shape.key] == sa.bindparam(f"b_{shape.key}"))
        .values({column: sa.bindparam(column) for column in shape.columns})
    )


def _bound(shape: Shape, rows: list[Values]) -> list[Values]:
    if shape.insert:
        return rows
    return [
        {f"b_{shape.key}": row[shape.key], **{c: row[c] for c in shape.columns}} for row in rows
    ]


def _is_json(column: sa.Column[Any]) -> bool:
    return isinstance(column.type.dialect_impl(_PG_DIALECT), sa.JSON)


@functools.cache
def _postgres_sql(table: sa.Table, shape: Shape) -> tuple[str, tuple[str, ...], frozenset[str]]:
    """(SQL, the columns in parameter order, the JSON columns among them)."""
    columns = (shape.key, *shape.columns)
    json_columns = frozenset(c for c in columns if _is_json(table.c[c]))
    array_types = [
        "text[]" if c in json_columns else f"{table.c[c].type.compile(dialect=_PG_DIALECT)}[]"
        for c in columns
    ]
    name = _PG_DIALECT.identifier_preparer.format_table(table)
    quoted = [_PG_DIALECT.identifier_preparer.quote(c) for c in columns]
    unnest = ", ".join(f"${n}::{kind}" for n, kind in enumerate(array_types, start=1))
    source = f"unnest({unnest}) AS v({', '.join(quoted)})"

    def value(column: str, quoted_name: str) -> str:
        return f"v.{quoted_name}::jsonb" if column in json_columns else f"v.{quoted_name}"

    if shape.insert:
        selected = ", ".join(value(c, q) for c, q in zip(columns, quoted, strict=True))
        sql = f"INSERT INTO {name} ({', '.join(quoted)}) SELECT {selected} FROM {source}"  # noqa: S608 - identifiers from our tables, quoted; values are parameters
    else:
        assignments = ", ".join(
            f"{q} = {value(c, q)}" for c, q in zip(columns[1:], quoted[1:], strict=True)
        )
        key = quoted[0]
        sql = f"UPDATE {name} AS t SET {assignments} FROM {source} WHERE t.{key} = v.{key}"  # noqa: S608 - as above
    return sql, columns, json_columns


async def _write_postgres(
    conn: AsyncConnection, table: sa.Table, shape: Shape, rows: list[Values]
) -> None:
    sql, columns, json_columns = _postgres_sql(table, shape)
    arrays = [
        [orjson.dumps(row[c]).decode() for row in rows]
        if c in json_columns
        else [row[c] for row in rows]
        for c in columns
    ]
    driver = await transaction_driver(conn)
    try:
        await driver.execute(sql, *arrays)
    except Exception as exc:
        # The API turns a broken unique constraint into a 409 naming what exists.
        if type(exc).__name__ == "UniqueViolationError":
            raise IntegrityError(sql, None, exc) from exc
        raise
