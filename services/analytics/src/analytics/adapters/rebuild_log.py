"""The ``analytics_rebuilds`` table: each rebuild's progress, and the flag consumers watch.

A rebuild is *active* while its status is pending or running and its heartbeat is
fresh; a process that died mid-rebuild leaves a stale heartbeat, which frees the read
model again after :data:`STALE_AFTER`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics.adapters.tables import rebuilds

STALE_AFTER: Final = timedelta(seconds=30)
ACTIVE: Final = ("pending", "running")
_R = rebuilds.c


@dataclass(frozen=True, slots=True)
class RebuildRecord:
    rebuild_id: str
    read_model: str
    status: str
    source: str | None
    events: int
    expected_events: int | None
    duplicates: int | None
    covers_sequence: int | None
    error: str | None
    requested_by: str | None
    started_at: datetime
    heartbeat_at: datetime
    finished_at: datetime | None

    @property
    def abandoned(self) -> bool:
        return self.status in ACTIVE and datetime.now(UTC) - self.heartbeat_at > STALE_AFTER


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)  # SQLite returns the stored UTC time naive


def _record(row: sa.RowMapping) -> RebuildRecord:
    started, beat = _utc(row["started_at"]), _utc(row["heartbeat_at"])
    assert started is not None  # noqa: S101 - NOT NULL columns
    assert beat is not None  # noqa: S101
    return RebuildRecord(
        rebuild_id=row["rebuild_id"],
        read_model=row["read_model"],
        status=row["status"],
        source=row["source"],
        events=row["events"],
        expected_events=row["expected_events"],
        duplicates=row["duplicates"],
        covers_sequence=row["covers_sequence"],
        error=row["error"],
        requested_by=row["requested_by"],
        started_at=started,
        heartbeat_at=beat,
        finished_at=_utc(row["finished_at"]),
    )


def _fresh() -> sa.ColumnElement[bool]:
    return sa.and_(_R.status.in_(ACTIVE), _R.heartbeat_at > datetime.now(UTC) - STALE_AFTER)


async def active(conn: AsyncConnection, read_model: str) -> RebuildRecord | None:
    query = sa.select(rebuilds).where(_R.read_model == read_model, _fresh()).limit(1)
    row = (await conn.execute(query)).mappings().first()
    return None if row is None else _record(row)


async def latest(conn: AsyncConnection, read_model: str, limit: int) -> list[RebuildRecord]:
    """The read model's most recent rebuilds, newest first."""
    query = (
        sa.select(rebuilds)
        .where(_R.read_model == read_model)
        .order_by(_R.started_at.desc(), _R.rebuild_id)
        .limit(limit)
    )
    return [_record(row) for row in (await conn.execute(query)).mappings()]


async def get(conn: AsyncConnection, rebuild_id: str) -> RebuildRecord | None:
    query = sa.select(rebuilds).where(_R.rebuild_id == rebuild_id)
    row = (await conn.execute(query)).mappings().first()
    return None if row is None else _record(row)


async def by_idempotency_key(
    conn: AsyncConnection, read_model: str, key: str
) -> RebuildRecord | None:
    query = sa.select(rebuilds).where(_R.read_model == read_model, _R.idempotency_key == key)
    row = (await conn.execute(query)).mappings().first()
    return None if row is None else _record(row)


async def claim(
    conn: AsyncConnection,
    rebuild_id: str,
    read_model: str,
    requested_by: str | None,
    idempotency_key: str | None = None,
) -> RebuildRecord | None:
    """Record a pending rebuild of ``read_model`` — unless one is active: that one.

    Rebuilds whose process died (stale heartbeat) are marked failed on the way. The
    check and the insert are serialised per read model (an advisory lock on
    PostgreSQL; SQLite has one writer).
    """
    if conn.dialect.name == "postgresql":
        await conn.execute(
            sa.text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
            {"key": f"analytics-rebuild:{read_model}"},
        )
    now = datetime.now(UTC)
    await conn.execute(
        rebuilds.update()
        .where(
            _R.read_model == read_model, _R.status.in_(ACTIVE), _R.heartbeat_at <= now - STALE_AFTER
        )
        .values(status="failed", error="abandoned: its process stopped", finished_at=now)
    )
    running = await active(conn, read_model)
    if running is not None:
        return running
    await conn.execute(
        rebuilds.insert().values(
            rebuild_id=rebuild_id,
            read_model=read_model,
            status="pending",
            events=0,
            requested_by=requested_by,
            idempotency_key=idempotency_key,
            started_at=now,
            heartbeat_at=now,
        )
    )
    return None


async def update(conn: AsyncConnection, rebuild_id: str, **values: object) -> None:
    """Change the rebuild's row and refresh its heartbeat."""
    await conn.execute(
        rebuilds.update()
        .where(_R.rebuild_id == rebuild_id)
        .values(heartbeat_at=datetime.now(UTC), **values)
    )


async def covered_sequence(conn: AsyncConnection, read_model: str) -> int:
    """The highest source sequence a swapped rebuild of ``read_model`` covered (0: none)."""
    query = sa.select(sa.func.max(_R.covers_sequence)).where(
        _R.read_model == read_model, _R.status == "swapped"
    )
    return int(await conn.scalar(query) or 0)
