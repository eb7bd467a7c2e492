"""Reads of the fact tables, narrowed to what happened on or before ``as_of``.

Sums and counts are left to the database (one row back); what the metric rules need
entity by entity (participations, pairs, employees, ratings) comes back as facts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics.adapters import tables
from analytics.domain.facts import (
    Checkin,
    Employee,
    FeedbackTotals,
    GoalTotals,
    HeldSession,
    KpiTarget,
    Pair,
    Participation,
    Program,
    Rating,
    SessionTotals,
    Spell,
)
from analytics.domain.retention import days_before

_P = tables.programs.c
_E = tables.employees.c
_N = tables.enrollments.c
_PA = tables.pairs.c
_S = tables.sessions.c
_G = tables.goals.c
_F = tables.feedback.c
_C = tables.checkins.c
_X = tables.fit_checks.c

LAST_DAYS = 30


async def program(conn: AsyncConnection, program_id: str) -> Program | None:
    row = (
        await conn.execute(sa.select(tables.programs).where(_P.program_id == program_id))
    ).first()
    if row is None:
        return None
    targets = orjson.loads(row.kpi_targets)
    return Program(
        program_id=row.program_id,
        name=row.name,
        starts_on=row.starts_on,
        ends_on=row.ends_on,
        cadence_days=row.cadence_days,
        kpi_targets=tuple(KpiTarget(str(t["metric"]), float(t["target"])) for t in targets),
    )


async def participations(
    conn: AsyncConnection, program_id: str, as_of: date
) -> list[Participation]:
    """Each employee's first approval per role in the program, on or before ``as_of``."""
    first = sa.func.min(_N.enrolled_on)
    query = (
        sa.select(_N.employee_id, _N.role, first.label("enrolled_on"))
        .where(_N.program_id == program_id, _N.enrolled_on <= as_of)
        .group_by(_N.employee_id, _N.role)
    )
    return [
        Participation(row.employee_id, row.role, row.enrolled_on)
        for row in await conn.execute(query)
    ]


async def participants_anywhere(conn: AsyncConnection, as_of: date) -> set[str]:
    """Employees with an approved enrollment in any program on or before ``as_of``."""
    query = sa.select(_N.employee_id).where(_N.enrolled_on <= as_of).distinct()
    return set((await conn.scalars(query)).all())


def _spells(row: Any) -> tuple[Spell, ...]:
    raw: list[list[str | None]] = orjson.loads(row.spells)
    first_day = row.hired_on or row.listed_on
    spells = []
    for index, (began, ended) in enumerate(raw):
        start = first_day if index == 0 or began is None else date.fromisoformat(began)
        spells.append(Spell(start, date.fromisoformat(ended) if ended else None))
    return tuple(spells)


async def employees(conn: AsyncConnection) -> list[Employee]:
    query = sa.select(
        _E.employee_id, _E.department, _E.job_level, _E.hired_on, _E.listed_on, _E.spells
    )
    return [
        Employee(row.employee_id, row.department, row.job_level, _spells(row))
        for row in await conn.execute(query)
    ]


async def pairs(conn: AsyncConnection, program_id: str, as_of: date) -> list[Pair]:
    """Pairs of the program formed or ended on or before ``as_of``."""
    query = sa.select(_PA.pair_id, _PA.mentor_id, _PA.mentee_id, _PA.formed_on, _PA.ended_on).where(
        _PA.program_id == program_id, sa.or_(_PA.formed_on <= as_of, _PA.ended_on <= as_of)
    )
    return [
        Pair(row.pair_id, row.mentor_id, row.mentee_id, row.formed_on, row.ended_on)
        for row in await conn.execute(query)
    ]


def _held(program_id: str, as_of: date) -> list[sa.ColumnElement[bool]]:
    return [_S.program_id == program_id, _S.status == "held", _S.held_on <= as_of]


@dataclass(frozen=True, slots=True)
class ProgramTotals:
    sessions: SessionTotals
    goals: GoalTotals
    feedback: FeedbackTotals


async def program_totals(conn: AsyncConnection, program_id: str, as_of: date) -> ProgramTotals:
    """Sessions, goals and answers of the program as of ``as_of``: one statement, one row."""
    recent = _S.held_on > days_before(as_of, LAST_DAYS)
    sessions = (
        sa.select(
            sa.func.count().label("held"),
            sa.func.coalesce(sa.func.sum(_S.duration_minutes), 0).label("minutes"),
            sa.func.count().filter(recent).label("recent"),
        )
        .where(*_held(program_id, as_of))
        .subquery()
    )
    goals = (
        sa.select(
            sa.func.count().label("set"),
            sa.func.count().filter(_G.achieved_on <= as_of).label("achieved"),
        )
        .where(_G.program_id == program_id, _G.set_on <= as_of)
        .subquery()
    )
    answers = (
        sa.select(
            sa.func.count().label("responses"),
            sa.func.coalesce(sa.func.sum(_F.rating), 0).label("rating_sum"),
            sa.func.count(_F.nps).label("nps_answers"),
            sa.func.count().filter(_F.nps >= 9).label("promoters"),  # noqa: PLR2004 - 9-10
            sa.func.count().filter(_F.nps <= 6).label("detractors"),  # noqa: PLR2004 - 0-6
        )
        .where(_F.program_id == program_id, _F.submitted_on <= as_of)
        .subquery()
    )
    # Three one-row aggregates side by side (joined on true: a deliberate cross join).
    together = sessions.join(goals, sa.true()).join(answers, sa.true())
    row = (await conn.execute(sa.select(sessions, goals, answers).select_from(together))).one()
    return ProgramTotals(
        SessionTotals(int(row.held), int(row.minutes), int(row.recent)),
        GoalTotals(int(row.set), int(row.achieved)),
        FeedbackTotals(
            int(row.responses),
            int(row.rating_sum),
            int(row.nps_answers),
            int(row.promoters),
            int(row.detractors),
        ),
    )


async def last_held(conn: AsyncConnection, program_id: str, as_of: date) -> dict[str, date]:
    query = (
        sa.select(_S.pair_id, sa.func.max(_S.held_on).label("last"))
        .where(*_held(program_id, as_of))
        .group_by(_S.pair_id)
    )
    return {row.pair_id: row.last for row in await conn.execute(query)}


async def held_sessions(conn: AsyncConnection, program_id: str, as_of: date) -> list[HeldSession]:
    query = sa.select(_S.pair_id, _S.held_on, _S.duration_minutes).where(*_held(program_id, as_of))
    return [
        HeldSession(row.pair_id, row.held_on, row.duration_minutes or 0)
        for row in await conn.execute(query)
    ]


async def ratings(conn: AsyncConnection, program_id: str, as_of: date) -> list[Rating]:
    query = sa.select(
        _F.pair_id, _F.rating, _F.nps, _F.submitted_on, _F.recorded_at, _F.feedback_id
    ).where(_F.program_id == program_id, _F.submitted_on <= as_of)
    return [
        Rating(row.pair_id, row.rating, row.nps, row.submitted_on, row.recorded_at, row.feedback_id)
        for row in await conn.execute(query)
    ]


async def failed_fit_checks(conn: AsyncConnection, program_id: str, as_of: date) -> set[str]:
    query = (
        sa.select(_X.pair_id)
        .where(_X.program_id == program_id, _X.reported_on <= as_of, sa.not_(_X.passed))
        .distinct()
    )
    return set((await conn.scalars(query)).all())


async def checkins(conn: AsyncConnection, program_id: str, as_of: date) -> list[Checkin]:
    query = sa.select(_C.completed_on).where(_C.program_id == program_id, _C.completed_on <= as_of)
    return [Checkin(day) for day in (await conn.scalars(query)).all()]


async def first_activity(conn: AsyncConnection, program_id: str) -> date | None:
    """The earliest held session or feedback of the program (back-dated ones included)."""
    sessions = sa.select(sa.func.min(_S.held_on)).where(
        _S.program_id == program_id, _S.status == "held"
    )
    answers = sa.select(sa.func.min(_F.submitted_on)).where(_F.program_id == program_id)
    days = [await conn.scalar(sessions), await conn.scalar(answers)]
    known = [d for d in days if d is not None]
    return min(known) if known else None
