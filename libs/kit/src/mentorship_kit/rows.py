"""Rows of one shape written with one statement: the query tables' hot path.

A :class:`Shape` says what the statement looks like (insert rows, or update some
columns of rows by their key); :func:`write_rows` writes any number of rows of it.

On PostgreSQL the statement goes straight through the driver with the rows as one
JSON array (``INSERT ... SELECT FROM json_to_recordset($1)``, ``UPDATE ... FROM
json_to_recordset($1)``): one round trip, one plan and one encoded parameter for any
number of rows, and none of SQLAlchemy's per-row work, which costs more CPU than the
database on a busy 2-core machine. (An array per column, ``unnest``, cost the driver a
Python-level type check per value; JSON columns then needed encoding row by row too.)
It runs on the command's connection, inside its transaction. SQLite takes SQLAlchemy's
executemany.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from mentorship_kit.db import transaction_driver

_PG_DIALECT = postgresql.dialect()  # type: ignore[no-untyped-call]  # SQLAlchemy's own

Values = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Shape:
    """What a statement looks like: INSERT rows, or UPDATE ``columns`` of rows by ``key``.

    ``columns`` never holds the key; an insert writes the key and ``columns``.
    """

    table: str
    key: str
    columns: tuple[str, ...]
    insert: bool

    @classmethod
    def inserting(cls, table: sa.Table, row: Values, *, key: str) -> Shape:
        """The shape of inserting rows with exactly the columns of ``row``."""
        return cls(table.name, key, tuple(c for c in row if c != key), insert=True)


async def write_rows(
    conn: AsyncConnection, table: sa.Table, shape: Shape, rows: list[Values]
) -> None:
    """Write ``rows`` (each holding exactly the shape's key and columns) into ``table``.

    Inside ``conn``'s transaction. A broken unique constraint raises SQLAlchemy's
    IntegrityError on both backends.
    """
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
def _postgres_sql(table: sa.Table, shape: Shape) -> str:
    columns = (shape.key, *shape.columns)
    types = [
        "jsonb" if _is_json(table.c[c]) else table.c[c].type.compile(dialect=_PG_DIALECT)
        for c in columns
    ]
    name = _PG_DIALECT.identifier_preparer.format_table(table)
    quoted = [_PG_DIALECT.identifier_preparer.quote(c) for c in columns]
    record = ", ".join(f"{q} {kind}" for q, kind in zip(quoted, types, strict=True))
    source = f"json_to_recordset($1::json) AS v({record})"
    if shape.insert:
        selected = ", ".join(f"v.{q}" for q in quoted)
        sql = f"INSERT INTO {name} ({', '.join(quoted)}) SELECT {selected} FROM {source}"  # noqa: S608 - identifiers from our tables, quoted; values are a parameter
    else:
        assignments = ", ".join(f"{q} = v.{q}" for q in quoted[1:])
        key = quoted[0]
        sql = f"UPDATE {name} AS t SET {assignments} FROM {source} WHERE t.{key} = v.{key}"  # noqa: S608 - as above
    return sql


async def _write_postgres(
    conn: AsyncConnection, table: sa.Table, shape: Shape, rows: list[Values]
) -> None:
    # Each row holds exactly the shape's key and columns (see row_changes.shapes).
    sql = _postgres_sql(table, shape)
    document = orjson.dumps(rows).decode()
    driver = await transaction_driver(conn)
    try:
        await driver.execute(sql, document)
    except Exception as exc:
        # The API turns a broken unique constraint into a 409 naming what exists.
        if type(exc).__name__ == "UniqueViolationError":
            raise IntegrityError(sql, None, exc) from exc
        raise
