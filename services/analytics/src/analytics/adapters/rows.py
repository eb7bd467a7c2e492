"""Apply row changes in bulk: each table written once per batch, rows read only if needed.

A projection turns every event into a :class:`RowChange` — "the row of table T with
key K gets these values", or, for the few changes that depend on the row's current
content, "the row becomes fold(row, values)". :func:`apply_changes` applies a batch of
them in event order:

- a key whose changes only *set values* needs no read: its changes are merged in
  memory (later values win) onto the row it would start from, and written with
  ``INSERT ... ON CONFLICT DO UPDATE`` of exactly the columns they set — the database
  keeps every other column of a row that exists;
- a key with a fold among its changes is read first (one query per table), folded in
  memory, and written whole.

Either way the result equals applying the events one by one, which is what lets a
rebuild (thousands of events per transaction) equal the consumer (one event at a
time) — and the consumer's usual event costs one statement.

On PostgreSQL reads (``key = ANY($1)``) and writes (``INSERT ... SELECT FROM
json_populate_recordset($1) ... ON CONFLICT``) go straight through the driver: one
statement and one round trip for any number of rows, in the caller's transaction.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, NamedTuple

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from mentorship_kit.db import transaction_driver

Row = dict[str, Any]
Fold = Callable[[Row, Row], Row]
# Per live table name, every key its table holds (see ``apply_changes``).
KnownKeys = dict[str, set[str]]

# SQLite allows 32,766 bound parameters per statement; stay well below.
_LOAD_CHUNK: Final = 1000


class RowChange(NamedTuple):
    """The row ``key`` of ``table`` (a live table name) changes.

    - ``base`` is the row to start from when there is none yet; None marks a *fresh*
      fact (``values`` is the whole row);
    - ``values`` are set on the row — or, with ``fold``, the row becomes
      ``fold(row, values)``.
    """

    table: str
    key: str
    values: Row
    base: Row | None
    fold: Fold | None = None


def _key_column(table: sa.Table) -> sa.Column[Any]:
    columns = list(table.primary_key.columns)
    if len(columns) != 1:
        msg = f"{table.name}: row changes need a single-column primary key"
        raise ValueError(msg)
    return columns[0]


async def apply_changes(
    conn: AsyncConnection,
    tables: Mapping[str, sa.Table],
    changes: Iterable[RowChange],
    *,
    known: KnownKeys | None = None,
) -> None:
    """Apply ``changes`` in order to the rows of ``tables``; see the module docstring.

    With ``known`` the tables hold exactly those keys (per live table name): tables that
    started empty and that only calls with this ``known`` write (a rebuild's shadow
    tables). On PostgreSQL the rows of keys not among them are then final and are
    copied in (``COPY``, no conflict to handle); their keys join ``known``.
    """
    merged = _Merged()
    add = merged.add
    for change in changes:
        add(change)
    # COPY needs PostgreSQL; SQLite's shadow tables get the upserts.
    copying = known if conn.dialect.name == "postgresql" else None
    for name, merged_rows in merged.rows.items():
        table = tables[name]
        key_name = _key_column(table).name
        table_sets = merged.sets[name]
        rows = merged_rows
        if copying is not None:
            rows = await _copy_new(conn, table, rows, copying.setdefault(name, set()))
        groups: dict[tuple[str, ...], list[Row]] = {}
        for key, row in rows.items():
            groups.setdefault(tuple(table_sets[key]), []).append(row)
        for set_columns, group in groups.items():
            await _upsert(conn, table, group, [c for c in set_columns if c != key_name])
    for name, keyed in merged.folded.items():
        present = None if copying is None else copying.setdefault(name, set())
        await _write_folded(conn, tables[name], keyed, present)


class _Merged:
    """Changes merged in event order, per table and key.

    A rebuild passes a generator: each change is merged as it comes and dropped. Per
    key only its merged row is kept (no list of changes, no tuple of columns): what
    stays alive for a whole batch is what the garbage collector keeps walking.
    """

    def __init__(self) -> None:
        # The merged row, and the values naming the columns its changes set.
        self.rows: dict[str, dict[str, Row]] = {}
        self.sets: dict[str, dict[str, Row]] = {}
        # Keys with a fold: their changes, applied to the stored row.
        self.folded: dict[str, dict[str, list[RowChange]]] = {}

    def add(self, change: RowChange) -> None:
        name, key, values, base, fold = change
        rows = self.rows.get(name)
        if rows is None:
            rows = self.rows[name] = {}
            self.sets[name] = {}
        folded = self.folded.get(name)
        if folded is not None and key in folded:
            folded[key].append(change)
            return
        row = rows.get(key)
        if fold is not None:
            # From here on this key is read and folded. What it had so far is one
            # change: the columns set so far, onto the merged row as the base.
            earlier: list[RowChange] = []
            if row is not None:
                del rows[key]
                set_columns = self.sets[name].pop(key)
                earlier = [RowChange(name, key, {c: row[c] for c in set_columns}, row)]
            self.folded.setdefault(name, {})[key] = [*earlier, change]
        elif row is None:
            # Rows are never updated in place: a change's own dict can be the row.
            rows[key] = values if base is None else {**base, **values}
            self.sets[name][key] = values
        else:
            rows[key] = {**row, **values}
            sets = self.sets[name]
            sets[key] = {**sets[key], **values}


async def _write_folded(
    conn: AsyncConnection,
    table: sa.Table,
    keyed: dict[str, list[RowChange]],
    present: set[str] | None,
) -> None:
    """Fold the keys' changes onto their stored rows and write them whole; with
    ``present`` (the table's keys, all of them) only those are read, and the rows of
    the others copied in."""
    wanted = list(keyed) if present is None else [k for k in keyed if k in present]
    current = await _load(conn, table, wanted) if wanted else {}
    rows: dict[str, Row] = {}
    for key, key_changes in keyed.items():
        row = current.get(key)
        for change in key_changes:
            start = row if row is not None else change.base
            if start is None:
                row = dict(change.values)
            elif change.fold is None:
                row = {**start, **change.values}
            else:
                row = change.fold(start, change.values)
        assert row is not None  # noqa: S101 - every key has at least one change
        rows[key] = row
    if present is not None:
        rows = await _copy_new(conn, table, rows, present)
    key_name = _key_column(table).name
    await _upsert(
        conn, table, list(rows.values()), [c.name for c in table.columns if c.name != key_name]
    )


async def _copy_new(
    conn: AsyncConnection, table: sa.Table, rows: dict[str, Row], present: set[str]
) -> dict[str, Row]:
    """COPY the rows whose key is not in ``present`` (whole rows: the table has no row
    of theirs yet) and add their keys; the rest, still to upsert, are returned.

    A row COPY cannot encode as the column types say (the JSON upsert would have the
    database cast it) goes the upsert's way with the others: the COPY runs in a
    savepoint, and a batch it refuses is upserted instead.
    """
    new = [key for key in rows if key not in present]
    if not new:
        return rows
    columns = [c.name for c in table.columns]
    pick = operator.itemgetter(*columns)
    try:
        records = [pick(rows[key]) for key in new]
    except KeyError:  # a row without some column: the upsert leaves it NULL
        return rows
    driver = await transaction_driver(conn)
    try:
        async with driver.transaction():
            await driver.copy_records_to_table(
                table.name, schema_name=table.schema, columns=columns, records=records
            )
    except (TypeError, ValueError, AttributeError, OverflowError):
        return rows
    remaining = {key: row for key, row in rows.items() if key in present}
    present.update(new)
    return remaining


async def _load(conn: AsyncConnection, table: sa.Table, keys: list[str]) -> dict[str, Row]:
    key_column = _key_column(table)
    if conn.dialect.name == "postgresql":
        driver = await transaction_driver(conn)
        sql = _POSTGRES_LOADS.get((table.schema, table.name))
        if sql is None:
            preparer = conn.dialect.identifier_preparer
            sql = (
                f"SELECT * FROM {preparer.format_table(table)} "  # noqa: S608 - identifiers only
                f"WHERE {preparer.quote(key_column.name)} = ANY($1::text[])"
            )
            _POSTGRES_LOADS[(table.schema, table.name)] = sql
        name = key_column.name
        return {record[name]: dict(record) for record in await driver.fetch(sql, keys)}
    found: dict[str, Row] = {}
    for start in range(0, len(keys), _LOAD_CHUNK):
        chunk = keys[start : start + _LOAD_CHUNK]
        result = await conn.execute(sa.select(table).where(key_column.in_(chunk)))
        for row in result.mappings():
            found[row[key_column.name]] = dict(row)
    return found


_POSTGRES_LOADS: dict[tuple[str | None, str], str] = {}


async def _upsert(
    conn: AsyncConnection, table: sa.Table, rows: list[Row], updated: list[str]
) -> None:
    """Insert ``rows`` (whole rows); a row whose key exists gets ``updated`` only."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        driver = await transaction_driver(conn)
        await driver.execute(
            _postgres_upsert_sql(conn, table, updated), orjson.dumps(rows).decode()
        )
        return
    key = _key_column(table).name
    stmt = sqlite.insert(table)
    conflict = (
        stmt.on_conflict_do_update(
            index_elements=[key], set_={c: stmt.excluded[c] for c in updated}
        )
        if updated
        else stmt.on_conflict_do_nothing(index_elements=[key])
    )
    await conn.execute(conflict, rows)


_PG_UPSERTS: dict[tuple[str | None, str, tuple[str, ...]], str] = {}


def _postgres_upsert_sql(conn: AsyncConnection, table: sa.Table, updated: list[str]) -> str:
    """``INSERT ... SELECT`` from one JSON array of rows, each object read as a row of
    the table's own type (columns by name, types from the table)."""
    cache_key = (table.schema, table.name, tuple(updated))
    sql = _PG_UPSERTS.get(cache_key)
    if sql is not None:
        return sql
    preparer = conn.dialect.identifier_preparer
    key = preparer.quote(_key_column(table).name)
    columns = ", ".join(preparer.quote(c.name) for c in table.columns)
    qualified = preparer.format_table(table)
    if updated:
        sets = ", ".join(f"{preparer.quote(c)} = EXCLUDED.{preparer.quote(c)}" for c in updated)
        conflict = f"ON CONFLICT ({key}) DO UPDATE SET {sets}"
    else:
        conflict = f"ON CONFLICT ({key}) DO NOTHING"
    # Only identifiers from the table definitions go into the text; the rows are bound.
    sql = (
        f"INSERT INTO {qualified} ({columns}) "  # noqa: S608 - identifiers only
        f"SELECT {columns} FROM json_populate_recordset(NULL::{qualified}, $1::json) "
        f"{conflict}"
    )
    _PG_UPSERTS[cache_key] = sql
    return sql
