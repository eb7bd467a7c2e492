"""Every read of the query tables: runs, pairs, mentor requests, blocked pairs, the pool.

Listings are keyset pages: ``limit + 1`` rows after a (timestamp, id) position, so the
caller can tell whether another page follows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from matching.adapters import tables
from matching.domain.pairs import PairStatus
from matching.domain.requests import RequestStatus
from mentorship_contracts.matching import MatchRunCompleted, ProposalRecord, UnmatchedRecord
from mentorship_kit.pagination import Keyset


def utc(value: datetime) -> datetime:
    """SQLite hands timestamps back without their zone; they were stored in UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _utc_or_none(value: datetime | None) -> datetime | None:
    return utc(value) if value is not None else None


def _after(stamp: sa.ColumnElement[Any], key: sa.ColumnElement[Any], after: Keyset | None) -> Any:
    if after is None:
        return sa.true()
    return sa.tuple_(stamp, key) > sa.tuple_(sa.literal(after.at, stamp.type), after.key)


# -- runs --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunSummaryView:
    run_id: str
    program_id: str
    status: str
    created_at: datetime
    published_at: datetime | None
    auto_accept: bool | None
    record: MatchRunCompleted


@dataclass(frozen=True, slots=True)
class RunView:
    summary: RunSummaryView
    proposals: tuple[ProposalRecord, ...]
    unmatched: tuple[UnmatchedRecord, ...]


def _run_summary(row: sa.RowMapping) -> RunSummaryView:
    return RunSummaryView(
        run_id=row["run_id"],
        program_id=row["program_id"],
        status=row["status"],
        created_at=utc(row["created_at"]),
        published_at=_utc_or_none(row["published_at"]),
        auto_accept=row["auto_accept"],
        record=MatchRunCompleted.model_validate(row["record"]),
    )


async def get_run(conn: AsyncConnection, run_id: str) -> RunView | None:
    runs = tables.match_runs
    row = (await conn.execute(sa.select(runs).where(runs.c.run_id == run_id))).mappings().first()
    if row is None:
        return None
    p, u = tables.match_run_proposals, tables.match_run_unmatched
    proposals = await conn.execute(sa.select(p).where(p.c.run_id == run_id).order_by(p.c.seq))
    unmatched = await conn.execute(sa.select(u).where(u.c.run_id == run_id).order_by(u.c.seq))
    return RunView(
        summary=_run_summary(row),
        proposals=tuple(
            ProposalRecord(
                mentor_id=r["mentor_id"],
                mentee_id=r["mentee_id"],
                score=r["score"],
                explanation=r["explanation"],
                group_id=r["group_id"],
            )
            for r in proposals.mappings()
        ),
        unmatched=tuple(
            UnmatchedRecord(
                employee_id=r["employee_id"],
                reason=r["reason"],
                detail=r["detail"],
                excluded_by=r["excluded_by"],
            )
            for r in unmatched.mappings()
        ),
    )


async def list_runs(
    conn: AsyncConnection, program_id: str, after: Keyset | None, limit: int
) -> list[RunSummaryView]:
    c = tables.match_runs.c
    rows = await conn.execute(
        sa.select(tables.match_runs)
        .where(c.program_id == program_id, _after(c.created_at, c.run_id, after))
        .order_by(c.created_at, c.run_id)
        .limit(limit + 1)
    )
    return [_run_summary(row) for row in rows.mappings()]


# -- pairs -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PairView:
    pair_id: str
    program_id: str
    run_id: str | None
    request_id: str | None
    mentor_id: str
    mentee_id: str
    format: str
    group_id: str | None
    score: float
    explanation: list[dict[str, Any]]
    algorithm_version: str
    status: PairStatus
    mentor_accepted: bool
    mentee_accepted: bool
    proposed_on: date
    proposed_at: datetime
    formed_on: date | None
    formed_at: datetime | None
    declined_on: date | None
    decline_reason: str | None
    ended_on: date | None
    ended_at: datetime | None
    end_reason: str | None

    @property
    def created_at(self) -> datetime:
        return self.proposed_at

    def has_member(self, employee_id: str | None) -> bool:
        return employee_id is not None and employee_id in {self.mentor_id, self.mentee_id}


def _pair(row: sa.RowMapping) -> PairView:
    values = dict(row)
    for column in ("proposed_at", "formed_at", "ended_at"):
        values[column] = _utc_or_none(values[column])
    return PairView(**values)


async def get_pair(conn: AsyncConnection, pair_id: str) -> PairView | None:
    c = tables.pairs.c
    row = (await conn.execute(sa.select(tables.pairs).where(c.pair_id == pair_id))).mappings()
    first = row.first()
    return _pair(first) if first is not None else None


async def list_pairs(
    conn: AsyncConnection,
    program_id: str,
    *,
    statuses: Sequence[str] | None,
    member: str | None,
    after: Keyset | None,
    limit: int,
) -> list[PairView]:
    """A program's pairs, oldest proposal first; `member` limits them to one employee's."""
    c = tables.pairs.c
    query = sa.select(tables.pairs).where(
        c.program_id == program_id, _after(c.proposed_at, c.pair_id, after)
    )
    if statuses:
        query = query.where(c.status.in_(list(statuses)))
    if member is not None:
        query = query.where((c.mentor_id == member) | (c.mentee_id == member))
    rows = await conn.execute(query.order_by(c.proposed_at, c.pair_id).limit(limit + 1))
    return [_pair(row) for row in rows.mappings()]


async def live_pairs_of(
    conn: AsyncConnection, employee_id: str, program_id: str | None = None
) -> list[PairView]:
    """Proposed and active pairs the employee is a member of (in one program, or any)."""
    c = tables.pairs.c
    query = sa.select(tables.pairs).where(
        c.status.in_(["proposed", "active"]),
        (c.mentor_id == employee_id) | (c.mentee_id == employee_id),
    )
    if program_id is not None:
        query = query.where(c.program_id == program_id)
    rows = await conn.execute(query.order_by(c.pair_id))
    return [_pair(row) for row in rows.mappings()]


# -- mentor requests ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RequestView:
    request_id: str
    program_id: str
    mentee_id: str
    mentor_id: str
    choices: list[str]
    choice_rank: int
    status: RequestStatus
    expires_at: datetime
    pair_id: str | None
    created_at: datetime
    updated_at: datetime

    def involves(self, employee_id: str | None) -> bool:
        return employee_id is not None and employee_id in {self.mentee_id, self.mentor_id}


def _request(row: sa.RowMapping) -> RequestView:
    values = dict(row)
    for column in ("expires_at", "created_at", "updated_at"):
        values[column] = utc(values[column])
    return RequestView(**values)


async def get_request(conn: AsyncConnection, request_id: str) -> RequestView | None:
    c = tables.mentor_requests.c
    rows = await conn.execute(sa.select(tables.mentor_requests).where(c.request_id == request_id))
    row = rows.mappings().first()
    return _request(row) if row is not None else None


async def list_requests(
    conn: AsyncConnection,
    program_id: str,
    *,
    status: str | None,
    member: str | None,
    after: Keyset | None,
    limit: int,
) -> list[RequestView]:
    c = tables.mentor_requests.c
    query = sa.select(tables.mentor_requests).where(
        c.program_id == program_id, _after(c.created_at, c.request_id, after)
    )
    if status is not None:
        query = query.where(c.status == status)
    if member is not None:
        query = query.where((c.mentee_id == member) | (c.mentor_id == member))
    rows = await conn.execute(query.order_by(c.created_at, c.request_id).limit(limit + 1))
    return [_request(row) for row in rows.mappings()]


async def due_requests(conn: AsyncConnection, now: datetime, limit: int) -> list[str]:
    """Pending requests whose answer is overdue, the longest overdue first."""
    c = tables.mentor_requests.c
    rows = await conn.execute(
        sa.select(c.request_id)
        .where(c.status == "pending", c.expires_at <= now)
        .order_by(c.expires_at, c.request_id)
        .limit(limit)
    )
    return [row.request_id for row in rows]


async def next_expiry(conn: AsyncConnection) -> datetime | None:
    c = tables.mentor_requests.c
    value = (
        await conn.execute(sa.select(sa.func.min(c.expires_at)).where(c.status == "pending"))
    ).scalar_one_or_none()
    return _utc_or_none(value)


async def pending_requests_of(
    conn: AsyncConnection, employee_id: str, program_id: str | None = None
) -> list[RequestView]:
    """Pending requests where the employee is the mentee or the mentor asked."""
    c = tables.mentor_requests.c
    query = sa.select(tables.mentor_requests).where(
        c.status == "pending", (c.mentee_id == employee_id) | (c.mentor_id == employee_id)
    )
    if program_id is not None:
        query = query.where(c.program_id == program_id)
    rows = await conn.execute(query.order_by(c.request_id))
    return [_request(row) for row in rows.mappings()]


# -- blocked pairs -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BlockView:
    block_id: str
    program_id: str
    employee_a: str
    employee_b: str
    reason: str | None
    created_at: datetime


async def list_blocks(
    conn: AsyncConnection, program_id: str, after: Keyset | None, limit: int
) -> list[BlockView]:
    c = tables.blocked_pairs.c
    rows = await conn.execute(
        sa.select(tables.blocked_pairs)
        .where(c.program_id == program_id, _after(c.created_at, c.block_id, after))
        .order_by(c.created_at, c.block_id)
        .limit(limit + 1)
    )
    return [
        BlockView(**{**dict(row), "created_at": utc(row["created_at"])}) for row in rows.mappings()
    ]


async def get_block(conn: AsyncConnection, block_id: str) -> BlockView | None:
    c = tables.blocked_pairs.c
    rows = await conn.execute(sa.select(tables.blocked_pairs).where(c.block_id == block_id))
    row = rows.mappings().first()
    return BlockView(**{**dict(row), "created_at": utc(row["created_at"])}) if row else None


# -- the pool ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CandidateView:
    employee_id: str
    role: str
    status: str
    active: bool
    enrolled_on: date
    live_pairs: int


async def list_participants(
    conn: AsyncConnection, program_id: str, after: tuple[str, str] | None, limit: int
) -> list[CandidateView]:
    """The program's participants as matching knows them, with their live pairs."""
    p, e, pairs = tables.pool_participants, tables.pool_employees, tables.pairs
    live = (
        sa.select(sa.func.count())
        .where(
            pairs.c.program_id == p.c.program_id,
            pairs.c.status.in_(["proposed", "active"]),
            sa.case(
                (p.c.role == "mentor", pairs.c.mentor_id == p.c.employee_id),
                else_=pairs.c.mentee_id == p.c.employee_id,
            ),
        )
        .scalar_subquery()
    )
    query = (
        sa.select(
            p.c.employee_id,
            p.c.role,
            p.c.status,
            sa.func.coalesce(e.c.active, sa.true()).label("active"),
            p.c.enrolled_on,
            live.label("live_pairs"),
        )
        .select_from(p.outerjoin(e, e.c.employee_id == p.c.employee_id))
        .where(p.c.program_id == program_id)
    )
    if after is not None:
        query = query.where(sa.tuple_(p.c.employee_id, p.c.role) > sa.tuple_(*after))
    rows = await conn.execute(query.order_by(p.c.employee_id, p.c.role).limit(limit + 1))
    return [CandidateView(**dict(row)) for row in rows.mappings()]
