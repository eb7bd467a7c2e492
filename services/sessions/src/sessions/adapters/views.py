"""The query tables of sessions, goals, milestones and feedback: a projection of this
service's own events, kept inline (in the command's transaction) and rebuildable from
the event store. Private texts are not here: they are not in the events."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from mentorship_contracts import CloudEvent, EventContract, registry
from mentorship_contracts.sessions import (
    FeedbackSubmitted,
    FitCheckFailed,
    FitCheckPassed,
    GoalAchieved,
    GoalDropped,
    GoalProgressed,
    GoalSet,
    MilestoneAdded,
    SessionCancelled,
    SessionLogged,
    SessionRescheduled,
    SessionScheduled,
)
from mentorship_kit.projection import Projection
from mentorship_kit.rows import Shape, write_rows
from sessions.adapters.tables import feedback, goals, milestones, sessions

_Apply = Callable[[AsyncConnection, Any, CloudEvent], Awaitable[None]]


class SessionViews(Projection):
    """Rows of ``sessions``, ``goals``, ``milestones`` and ``feedback`` from their events."""

    name: ClassVar[str] = "session_views"

    # Method names, not bound methods: a copy bound to rebuild tables must use its own.
    _APPLIERS: ClassVar[dict[type[EventContract], str]] = {
        SessionScheduled: "_scheduled",
        SessionLogged: "_logged",
        SessionRescheduled: "_rescheduled",
        SessionCancelled: "_cancelled",
        GoalSet: "_goal_set",
        MilestoneAdded: "_milestone_added",
        GoalProgressed: "_progressed",
        GoalAchieved: "_achieved",
        GoalDropped: "_dropped",
        FeedbackSubmitted: "_feedback",
        FitCheckFailed: "_fit_check",
        FitCheckPassed: "_fit_check",
    }

    def __init__(self) -> None:
        super().__init__(sessions, goals, milestones, feedback)

    async def handle(self, conn: AsyncConnection, event: CloudEvent) -> None:
        parsed = registry().parse(event.eventtype, event.schemaversion, event.data)
        name = self._APPLIERS.get(type(parsed))
        # CheckInCompleted needs no row of its own: its FeedbackSubmitted twin has one.
        if name is not None:
            apply: _Apply = getattr(self, name)
            await apply(conn, parsed, event)

    # -- sessions --------------------------------------------------------------------

    async def _scheduled(self, conn: AsyncConnection, e: SessionScheduled, ce: CloudEvent) -> None:
        await conn.execute(
            sa.insert(self.table("sessions")).values(
                session_id=e.session_id,
                pair_id=e.pair_id,
                program_id=e.program_id,
                status="scheduled",
                mode=e.mode,
                scheduled_for=e.scheduled_for,
                expected_minutes=e.expected_minutes,
                topic_count=0,
                created_at=ce.time,
            )
        )

    async def _logged(self, conn: AsyncConnection, e: SessionLogged, ce: CloudEvent) -> None:
        table = self.table("sessions")
        held = {
            "status": "held",
            "held_on": e.held_on,
            "duration_minutes": e.duration_minutes,
            "topic_count": e.topic_count,
        }
        if ce.streamversion == 1:
            # The hot path (logging a session): one row through the kit's row writer
            # (straight through the driver on PostgreSQL).
            row = {
                "session_id": e.session_id,
                "pair_id": e.pair_id,
                "program_id": e.program_id,
                "mode": e.mode,
                "created_at": ce.time,
                **held,
            }
            await write_rows(conn, table, Shape.inserting(table, row, key="session_id"), [row])
            return
        if e.mode is not None:
            held["mode"] = e.mode
        await self._update(conn, table, table.c.session_id == e.session_id, held)

    async def _rescheduled(
        self, conn: AsyncConnection, e: SessionRescheduled, _: CloudEvent
    ) -> None:
        table = self.table("sessions")
        await self._update(
            conn, table, table.c.session_id == e.session_id, {"scheduled_for": e.scheduled_for}
        )

    async def _cancelled(self, conn: AsyncConnection, e: SessionCancelled, _: CloudEvent) -> None:
        table = self.table("sessions")
        await self._update(
            conn,
            table,
            table.c.session_id == e.session_id,
            {"status": e.outcome, "closed_on": e.cancelled_on},
        )

    # -- goals -----------------------------------------------------------------------

    async def _goal_set(self, conn: AsyncConnection, e: GoalSet, ce: CloudEvent) -> None:
        await conn.execute(
            sa.insert(self.table("goals")).values(
                goal_id=e.goal_id,
                pair_id=e.pair_id,
                program_id=e.program_id,
                mentee_id=e.mentee_id,
                status="open",
                progress=0,
                target_date=e.target_date,
                set_on=e.set_on,
                # Counted up by the MilestoneAdded events that follow.
                milestone_count=0,
                milestones_done=0,
                created_at=ce.time,
            )
        )

    async def _milestone_added(
        self, conn: AsyncConnection, e: MilestoneAdded, _: CloudEvent
    ) -> None:
        await conn.execute(
            sa.insert(self.table("milestones")).values(
                milestone_id=e.milestone_id,
                goal_id=e.goal_id,
                due_on=e.due_on,
                done=False,
                position=e.milestone_count,
            )
        )
        goal_table = self.table("goals")
        await self._update(
            conn,
            goal_table,
            goal_table.c.goal_id == e.goal_id,
            {"milestone_count": e.milestone_count},
        )

    async def _progressed(self, conn: AsyncConnection, e: GoalProgressed, _: CloudEvent) -> None:
        goal_table = self.table("goals")
        await self._update(
            conn,
            goal_table,
            goal_table.c.goal_id == e.goal_id,
            {"progress": e.progress, "milestones_done": e.milestones_done},
        )
        if e.milestone_id is not None:
            milestone_table = self.table("milestones")
            await self._update(
                conn,
                milestone_table,
                milestone_table.c.milestone_id == e.milestone_id,
                {"done": True},
            )

    async def _achieved(self, conn: AsyncConnection, e: GoalAchieved, _: CloudEvent) -> None:
        table = self.table("goals")
        await self._update(
            conn,
            table,
            table.c.goal_id == e.goal_id,
            {"status": "achieved", "progress": 100, "closed_on": e.achieved_on},
        )

    async def _dropped(self, conn: AsyncConnection, e: GoalDropped, _: CloudEvent) -> None:
        table = self.table("goals")
        await self._update(
            conn,
            table,
            table.c.goal_id == e.goal_id,
            {"status": "dropped", "closed_on": e.dropped_on},
        )

    # -- feedback --------------------------------------------------------------------

    async def _feedback(self, conn: AsyncConnection, e: FeedbackSubmitted, ce: CloudEvent) -> None:
        await conn.execute(
            sa.insert(self.table("feedback")).values(
                feedback_id=e.feedback_id,
                pair_id=e.pair_id,
                program_id=e.program_id,
                respondent_id=e.respondent_id,
                respondent_role=e.respondent_role,
                kind=e.kind,
                rating=e.rating,
                nps=e.nps,
                session_id=e.session_id,
                submitted_on=e.submitted_on,
                created_at=ce.time,
            )
        )

    async def _fit_check(
        self, conn: AsyncConnection, e: FitCheckFailed | FitCheckPassed, ce: CloudEvent
    ) -> None:
        await conn.execute(
            sa.insert(self.table("feedback")).values(
                feedback_id=e.feedback_id,
                pair_id=e.pair_id,
                program_id=e.program_id,
                respondent_id=e.respondent_id,
                respondent_role=e.respondent_role,
                kind="fit_check",
                fits=isinstance(e, FitCheckPassed),
                session_id=e.session_id,
                submitted_on=e.reported_on,
                created_at=ce.time,
            )
        )

    @staticmethod
    async def _update(
        conn: AsyncConnection,
        table: sa.Table,
        where: sa.ColumnElement[bool],
        values: dict[str, Any],
    ) -> None:
        await conn.execute(sa.update(table).where(where).values(**values))
