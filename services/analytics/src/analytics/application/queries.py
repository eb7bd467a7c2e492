"""The analytics questions: load the facts one question needs, then apply the rules.

Each query reads in one transaction (REPEATABLE READ on PostgreSQL), so an answer is
computed from one consistent snapshot even while consumers write.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date
from typing import Literal

from opentelemetry import trace
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from analytics.adapters import facts
from analytics.domain import engagement, kpis, retention
from analytics.domain.errors import ProgramNotFoundError
from analytics.domain.facts import Employee, Program
from analytics.domain.privacy import Suppression

tracer = trace.get_tracer(__name__)

GroupBy = Literal["department", "job_level"]
_GROUP_KEYS: dict[GroupBy, Callable[[Employee], str | None]] = {
    "department": lambda e: e.department,
    "job_level": lambda e: None if e.job_level is None else str(e.job_level),
}


@dataclass(frozen=True)
class AnalyticsQueries:
    engine: AsyncEngine
    suppression: Suppression

    @asynccontextmanager
    async def _snapshot(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                await conn.execution_options(isolation_level="REPEATABLE READ")
            async with conn.begin():
                yield conn

    async def _program(self, conn: AsyncConnection, program_id: str) -> Program:
        found = await facts.program(conn, program_id)
        if found is None:
            raise ProgramNotFoundError(program_id)
        return found

    async def _program_retention(
        self, conn: AsyncConnection, program_id: str, window: retention.Window
    ) -> retention.ProgramRetention:
        return retention.program_retention(
            await facts.employees(conn),
            await facts.participations(conn, program_id, window.as_of),
            await facts.participants_anywhere(conn, window.as_of),
            window,
            self.suppression,
        )

    async def program_kpis(self, program_id: str, as_of: date) -> kpis.ProgramKpis:
        with tracer.start_as_current_span("analytics.kpis"):
            async with self._snapshot() as conn:
                program = await self._program(conn, program_id)
                totals = await facts.program_totals(conn, program_id, as_of)
                program_facts = kpis.ProgramFacts(
                    program=program,
                    participations=tuple(await facts.participations(conn, program_id, as_of)),
                    pairs=tuple(await facts.pairs(conn, program_id, as_of)),
                    sessions=totals.sessions,
                    goals=totals.goals,
                    feedback=totals.feedback,
                )
                targets_retention = None
                if kpis.needs_retention(program.kpi_targets):
                    window = retention.Window.ending(as_of, kpis.TARGET_WINDOW_DAYS)
                    targets_retention = await self._program_retention(conn, program_id, window)
        return kpis.program_kpis(program_facts, as_of, self.suppression, targets_retention)

    async def program_retention(
        self, program_id: str, as_of: date, window_days: int
    ) -> retention.ProgramRetention:
        with tracer.start_as_current_span("analytics.program_retention"):
            async with self._snapshot() as conn:
                await self._program(conn, program_id)
                window = retention.Window.ending(as_of, window_days)
                return await self._program_retention(conn, program_id, window)

    async def organisation_retention(
        self, as_of: date, window_days: int, group_by: GroupBy
    ) -> list[retention.OrganisationGroup]:
        with tracer.start_as_current_span("analytics.organisation_retention"):
            async with self._snapshot() as conn:
                employees = await facts.employees(conn)
                participants = await facts.participants_anywhere(conn, as_of)
        return retention.organisation_retention(
            employees,
            participants,
            retention.Window.ending(as_of, window_days),
            self.suppression,
            _GROUP_KEYS[group_by],
        )

    async def at_risk(self, program_id: str, as_of: date) -> list[engagement.AtRiskPair]:
        with tracer.start_as_current_span("analytics.at_risk"):
            async with self._snapshot() as conn:
                program = await self._program(conn, program_id)
                pairs = await facts.pairs(conn, program_id, as_of)
                last_held = await facts.last_held(conn, program_id, as_of)
                ratings = await facts.ratings(conn, program_id, as_of)
                failed = await facts.failed_fit_checks(conn, program_id, as_of)
        return engagement.at_risk_pairs(
            pairs,
            cadence_days=program.cadence_days,
            last_held=last_held,
            ratings=ratings,
            failed_fit_checks=failed,
            as_of=as_of,
        )

    async def monthly(self, program_id: str, as_of: date) -> list[engagement.Month]:
        """From the program's start (or its earliest back-dated activity) to ``as_of``."""
        with tracer.start_as_current_span("analytics.monthly"):
            async with self._snapshot() as conn:
                program = await self._program(conn, program_id)
                first = await facts.first_activity(conn, program_id)
                held = await facts.held_sessions(conn, program_id, as_of)
                ratings = await facts.ratings(conn, program_id, as_of)
                checkins = await facts.checkins(conn, program_id, as_of)
        starts = [d for d in (program.starts_on, first) if d is not None]
        if not starts or min(starts) > as_of:
            return []
        return engagement.monthly(
            held, ratings, checkins, since=min(starts), as_of=as_of, suppression=self.suppression
        )
