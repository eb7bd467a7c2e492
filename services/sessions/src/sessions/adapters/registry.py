"""The pair registry's tables: projections of matching's pair events and enrollment's
program events (fed by consumers), and the reads every command starts with."""

from __future__ import annotations

from typing import Any, ClassVar

import sqlalchemy as sa
import structlog
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from mentorship_contracts import CloudEvent, registry
from mentorship_kit.db import transaction_driver
from mentorship_kit.projection import Projection
from sessions.adapters.tables import pairs, programs
from sessions.domain.pairs import (
    Pair,
    PairContext,
    PairEvent,
    ProgramCalendar,
    ProgramEvent,
    project_pair,
    project_program,
)

log = structlog.get_logger(__name__)

PAIR_EVENT_TYPES = frozenset({"PairProposed", "PairFormed", "PairDeclined", "PairEnded"})
PROGRAM_EVENT_TYPES = frozenset({"ProgramCreated", "ProgramUpdated"})


def _insert(conn: AsyncConnection) -> Any:
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


async def _upsert(conn: AsyncConnection, table: sa.Table, key: str, row: dict[str, Any]) -> None:
    stmt = _insert(conn)(table).values(**row)
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[key],
            set_={name: stmt.excluded[name] for name in row if name != key},
        )
    )


class PairRegistry(Projection):
    """``pairs``: every pair matching announced, with its members, program and status."""

    name: ClassVar[str] = "pair_registry"

    def __init__(self) -> None:
        super().__init__(pairs)

    async def handle(self, conn: AsyncConnection, event: CloudEvent) -> None:
        if event.eventtype not in PAIR_EVENT_TYPES:
            return
        parsed = registry().parse(event.eventtype, event.schemaversion, event.data)
        assert isinstance(parsed, PairEvent)  # noqa: S101 - the type names were checked above
        table = self.table("pairs")
        row = (
            (await conn.execute(sa.select(table).where(table.c.pair_id == parsed.pair_id)))
            .mappings()
            .first()
        )
        current = _pair(row) if row is not None else None
        updated = project_pair(current, parsed)
        if updated == current:
            return
        await _upsert(conn, table, "pair_id", _pair_row(updated))
        log.info(
            "pair_registry.updated",
            pair_id=updated.pair_id,
            program_id=updated.program_id,
            status=updated.status,
            event_type=event.eventtype,
        )


class ProgramCalendars(Projection):
    """``programs``: each program's dates and cadence, as enrollment last announced them."""

    name: ClassVar[str] = "program_calendars"

    def __init__(self) -> None:
        super().__init__(programs)

    async def handle(self, conn: AsyncConnection, event: CloudEvent) -> None:
        if event.eventtype not in PROGRAM_EVENT_TYPES:
            return
        parsed = registry().parse(event.eventtype, event.schemaversion, event.data)
        assert isinstance(parsed, ProgramEvent)  # noqa: S101 - the type names were checked above
        calendar = project_program(parsed)
        await _upsert(
            conn,
            self.table("programs"),
            "program_id",
            {
                "program_id": calendar.program_id,
                "starts_on": calendar.starts_on,
                "ends_on": calendar.ends_on,
                "cadence_days": calendar.cadence_days,
            },
        )
        log.info("program_calendar.updated", program_id=calendar.program_id)


def _pair(row: Any) -> Pair:
    """A registry row (a SQLAlchemy mapping or an asyncpg record) as the domain's pair."""
    return Pair(
        pair_id=row["pair_id"],
        program_id=row["program_id"],
        mentor_id=row["mentor_id"],
        mentee_id=row["mentee_id"],
        status=row["status"],
        formed_on=row["formed_on"],
        ended_on=row["ended_on"],
        end_reason=row["end_reason"],
    )


def _pair_row(pair: Pair) -> dict[str, Any]:
    return {
        "pair_id": pair.pair_id,
        "program_id": pair.program_id,
        "mentor_id": pair.mentor_id,
        "mentee_id": pair.mentee_id,
        "status": pair.status,
        "formed_on": pair.formed_on,
        "ended_on": pair.ended_on,
        "end_reason": pair.end_reason,
    }


async def save_pair(conn: AsyncConnection, pair: Pair) -> None:
    """Write a registry entry directly (seeding a benchmark or a test)."""
    await _upsert(conn, pairs, "pair_id", _pair_row(pair))


async def save_calendar(conn: AsyncConnection, calendar: ProgramCalendar) -> None:
    """Write a program's calendar directly (seeding a benchmark or a test)."""
    await _upsert(
        conn,
        programs,
        "program_id",
        {
            "program_id": calendar.program_id,
            "starts_on": calendar.starts_on,
            "ends_on": calendar.ends_on,
            "cadence_days": calendar.cadence_days,
        },
    )


def _pair_context_query(*, for_write: bool) -> sa.Select[Any]:
    query = (
        sa.select(pairs, programs.c.starts_on, programs.c.ends_on, programs.c.cadence_days)
        .select_from(pairs.outerjoin(programs, programs.c.program_id == pairs.c.program_id))
        .where(pairs.c.pair_id == sa.bindparam("pair_id"))
    )
    return query.with_for_update(read=True, of=pairs) if for_write else query


# Built once: every command starts here, and building the statement per call costs
# more CPU than running it.
_PAIR_CONTEXT = _pair_context_query(for_write=False)
_PAIR_CONTEXT_FOR_WRITE = _pair_context_query(for_write=True)
# PostgreSQL, straight through the driver (the first read of every command): SQLAlchemy's
# statement and result processing cost about as much CPU as the database spends on it.
_PG_PAIR_CONTEXT_FOR_WRITE = """
SELECT p.pair_id, p.program_id, p.mentor_id, p.mentee_id, p.status, p.formed_on,
       p.ended_on, p.end_reason, g.starts_on, g.ends_on, g.cadence_days
FROM pairs AS p LEFT JOIN programs AS g ON g.program_id = p.program_id
WHERE p.pair_id = $1
FOR SHARE OF p
"""


async def load_pair_context(
    conn: AsyncConnection, pair_id: str, *, for_write: bool = False
) -> PairContext | None:
    """The pair with its program's calendar (None while that is not known yet).

    ``for_write`` takes a share lock on the pair's row (PostgreSQL) until the command
    commits: a PairEnded handled concurrently waits for it, so nothing is logged for a
    pair after its end was recorded here. SQLite has one writer and needs no lock.
    """
    row: Any
    if for_write and conn.dialect.name == "postgresql":
        # The lock must be taken inside the command's transaction.
        driver = await transaction_driver(conn)
        row = await driver.fetchrow(_PG_PAIR_CONTEXT_FOR_WRITE, pair_id)
    else:
        query = _PAIR_CONTEXT_FOR_WRITE if for_write else _PAIR_CONTEXT
        row = (await conn.execute(query, {"pair_id": pair_id})).mappings().first()
    if row is None:
        return None
    calendar = (
        ProgramCalendar(row["program_id"], row["starts_on"], row["ends_on"], row["cadence_days"])
        if row["starts_on"] is not None
        else None
    )
    return PairContext(_pair(row), calendar)
