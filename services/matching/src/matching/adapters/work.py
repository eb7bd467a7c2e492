"""The consumers' durable to-do list (`system_commands`) for the closure worker.

A consumer handler runs inside the consumer's batch transaction, which has already
taken row locks (and so a transaction id) before the handler is called. Appending a
pair's events there could give them a smaller transaction id than a command that wrote
the same pair stream concurrently, and the relay (which publishes in transaction-id
order) would publish that pair's events out of order. So handlers only *list* what must
happen, in their own transaction (exactly once, with the consumer's bookkeeping); the
closure worker then runs each item as an ordinary command through the command runner,
which loads every stream before it appends.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Final, Literal

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from matching.adapters import tables

_IDS: Final = uuid.UUID("3c9a1f52-7d1e-4b8e-a0f4-2e6d8b5c9a37")

Kind = Literal["pair", "mentor_request"]
Reason = Literal["withdrawal", "departure", "failed_fit"]


@dataclass(frozen=True, slots=True)
class SystemCommand:
    """Close `target_id` (a pair or a mentor request) because of `employee_id`."""

    command_id: str
    kind: Kind
    target_id: str
    employee_id: str
    reason: Reason
    occurred_on: date
    source_event_id: str
    actor: str | None = None
    correlation_id: str | None = None


def command_id_for(source_event_id: str, kind: Kind, target_id: str) -> str:
    """One command per (source event, target), whatever the number of deliveries."""
    return str(uuid.uuid5(_IDS, f"{source_event_id}\x00{kind}\x00{target_id}"))


def _insert(conn: AsyncConnection) -> Any:
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


async def enqueue(conn: AsyncConnection, commands: list[SystemCommand]) -> None:
    if not commands:
        return
    now = datetime.now(UTC)
    rows = [
        {
            "command_id": c.command_id,
            "kind": c.kind,
            "target_id": c.target_id,
            "employee_id": c.employee_id,
            "reason": c.reason,
            "occurred_on": c.occurred_on,
            "source_event_id": c.source_event_id,
            "actor": c.actor,
            "correlation_id": c.correlation_id,
            "created_at": now,
        }
        for c in commands
    ]
    stmt = _insert(conn)(tables.system_commands).on_conflict_do_nothing(
        index_elements=["command_id"]
    )
    await conn.execute(stmt, rows)


async def pending(conn: AsyncConnection, limit: int) -> list[SystemCommand]:
    c = tables.system_commands.c
    rows = await conn.execute(
        sa.select(tables.system_commands).order_by(c.created_at, c.command_id).limit(limit)
    )
    return [
        SystemCommand(
            command_id=row["command_id"],
            kind=row["kind"],
            target_id=row["target_id"],
            employee_id=row["employee_id"],
            reason=row["reason"],
            occurred_on=row["occurred_on"],
            source_event_id=row["source_event_id"],
            actor=row["actor"],
            correlation_id=row["correlation_id"],
        )
        for row in rows.mappings()
    ]


async def done(conn: AsyncConnection, command_id: str) -> bool:
    """Remove a finished command; False when another worker removed it first."""
    c = tables.system_commands.c
    result = await conn.execute(sa.delete(tables.system_commands).where(c.command_id == command_id))
    return bool(result.rowcount)
