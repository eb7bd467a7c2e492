"""The candidate pool: enrollment's programs, directory and participants, as matching
keeps them (consumer "matching-pool"), and the snapshot a run is computed on.

The projection only keeps facts; what a departure or a withdrawal does to pairs and
mentor requests is decided elsewhere (entrypoints/consumers.py), so that the pool can
be rebuilt from enrollment's stream without re-issuing anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

import sqlalchemy as sa
import structlog
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from matching.adapters import tables
from matching.domain.pool import (
    EmployeeFacts,
    PairFacts,
    ParticipantFacts,
    PoolSnapshot,
    ProgramFacts,
)
from mentorship_contracts import CloudEvent, EventContract, registry
from mentorship_contracts.common import Profile
from mentorship_contracts.enrollment import (
    EmployeeDeparted,
    EmployeePromoted,
    EmployeeProvisioned,
    EmployeeRecord,
    EmployeeReinstated,
    EmployeeUpdated,
    ParticipantEnrolled,
    ParticipantProfileUpdated,
    ParticipantWithdrew,
    ProgramArchived,
    ProgramClosed,
    ProgramCreated,
    ProgramOpened,
    ProgramUpdated,
)
from mentorship_kit.projection import Projection

log = structlog.get_logger(__name__)

POOL_EVENT_TYPES = frozenset(
    {
        "ProgramCreated",
        "ProgramUpdated",
        "ProgramOpened",
        "ProgramClosed",
        "ProgramArchived",
        "EmployeeProvisioned",
        "EmployeeUpdated",
        "EmployeePromoted",
        "EmployeeDeparted",
        "EmployeeReinstated",
        "ParticipantEnrolled",
        "ParticipantProfileUpdated",
        "ParticipantWithdrew",
    }
)
_STATUS_AFTER: dict[type[EventContract], str] = {
    ProgramOpened: "open",
    ProgramClosed: "closed",
    ProgramArchived: "archived",
}


def parse(event: CloudEvent) -> EventContract | None:
    """The typed enrollment event, or None for one the pool does not use."""
    if event.eventtype not in POOL_EVENT_TYPES:
        return None
    return registry().parse(event.eventtype, event.schemaversion, event.data)


def _insert(conn: AsyncConnection) -> Any:
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


async def _upsert(
    conn: AsyncConnection,
    table: sa.Table,
    keys: Sequence[str],
    row: dict[str, Any],
    *,
    keep: Sequence[str] = (),
) -> None:
    """Insert `row`, or update an existing one except its `keep` columns."""
    stmt = _insert(conn)(table).values(**row)
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=list(keys),
            set_={name: stmt.excluded[name] for name in row if name not in {*keys, *keep}},
        )
    )


def _employee_row(employee_id: str, record: EmployeeRecord) -> dict[str, Any]:
    return {
        "employee_id": employee_id,
        "department": record.department,
        "job_level": record.job_level,
        "manager_id": record.manager_id,
        "languages": list(record.languages),
        "timezone": record.timezone,
        "location": record.location,
    }


class PoolProjection(Projection):
    """``pool_programs``, ``pool_employees``, ``pool_participants``."""

    name: ClassVar[str] = "pool"

    def __init__(self) -> None:
        super().__init__(tables.pool_programs, tables.pool_employees, tables.pool_participants)

    async def handle(self, conn: AsyncConnection, event: CloudEvent) -> None:
        parsed = parse(event)
        if parsed is not None:
            await self.apply(conn, parsed)

    async def apply(self, conn: AsyncConnection, event: EventContract) -> None:
        programs = self.table("pool_programs")
        employees = self.table("pool_employees")
        participants = self.table("pool_participants")
        if isinstance(event, ProgramCreated | ProgramUpdated):
            row = {
                "program_id": event.program_id,
                "name": event.settings.name,
                "formats": list(event.settings.formats),
                "mentor_capacity": event.settings.mentor_capacity,
            }
            # A program starts as a draft; an update keeps whatever status it reached.
            await _upsert(
                conn, programs, ["program_id"], {**row, "status": "draft"}, keep=["status"]
            )
        elif isinstance(event, ProgramOpened | ProgramClosed | ProgramArchived):
            await conn.execute(
                programs.update()
                .where(programs.c.program_id == event.program_id)
                .values(status=_STATUS_AFTER[type(event)])
            )
        elif isinstance(event, EmployeeProvisioned | EmployeeUpdated):
            # A record change never undoes a departure; only a reinstatement does.
            row = {**_employee_row(event.employee_id, event.record), "active": True}
            await _upsert(conn, employees, ["employee_id"], row, keep=["active"])
        elif isinstance(event, EmployeePromoted):
            await conn.execute(
                employees.update()
                .where(employees.c.employee_id == event.employee_id)
                .values(job_level=event.to_level)
            )
        elif isinstance(event, EmployeeDeparted | EmployeeReinstated):
            await conn.execute(
                employees.update()
                .where(employees.c.employee_id == event.employee_id)
                .values(active=isinstance(event, EmployeeReinstated))
            )
        elif isinstance(event, ParticipantEnrolled):
            await _upsert(
                conn,
                participants,
                ["program_id", "employee_id", "role"],
                {
                    "program_id": event.program_id,
                    "employee_id": event.employee_id,
                    "role": event.role,
                    "enrollment_id": event.enrollment_id,
                    "status": "enrolled",
                    "profile": event.profile.model_dump(mode="json"),
                    "enrolled_on": event.enrolled_on,
                },
            )
        elif isinstance(event, ParticipantProfileUpdated | ParticipantWithdrew):
            key = (
                (participants.c.program_id == event.program_id)
                & (participants.c.employee_id == event.employee_id)
                & (participants.c.role == event.role)
                & (participants.c.enrollment_id == event.enrollment_id)
            )
            values: dict[str, Any] = (
                {"profile": event.profile.model_dump(mode="json")}
                if isinstance(event, ParticipantProfileUpdated)
                else {"status": "withdrawn"}
            )
            await conn.execute(participants.update().where(key).values(values))
        log.debug("pool.updated", event_type=event.event_type())


# -- reads -------------------------------------------------------------------------------


async def lock_programs(conn: AsyncConnection, program_ids: Iterable[str]) -> None:
    """Serialise with every other writer of these programs' pools (PostgreSQL).

    Commands that create pairs (publish, an accepted mentor request) and the consumer
    that changes the pool take these row locks first, in program-id order: a publish
    then either sees a departure completely (pool and closures) or not at all. SQLite
    has one writer; its transactions are serial anyway.
    """
    ids = sorted(set(program_ids))
    if not ids or conn.dialect.name != "postgresql":
        return
    c = tables.pool_programs.c
    await conn.execute(
        sa.select(c.program_id)
        .where(c.program_id.in_(ids))
        .order_by(c.program_id)
        .with_for_update()
    )


async def programs_of(conn: AsyncConnection, employee_id: str) -> list[str]:
    c = tables.pool_participants.c
    rows = await conn.execute(
        sa.select(c.program_id).where(c.employee_id == employee_id).distinct()
    )
    return [row.program_id for row in rows]


async def load_program(conn: AsyncConnection, program_id: str) -> ProgramFacts | None:
    c = tables.pool_programs.c
    row = (
        (await conn.execute(sa.select(tables.pool_programs).where(c.program_id == program_id)))
        .mappings()
        .first()
    )
    if row is None:
        return None
    return ProgramFacts(
        program_id=row["program_id"],
        status=row["status"],
        formats=tuple(row["formats"]),
        mentor_capacity=row["mentor_capacity"],
    )


async def load_snapshot(conn: AsyncConnection, program: ProgramFacts) -> PoolSnapshot:
    """Everything the pool rules need about one program, read in one transaction."""
    p = tables.pool_participants.c
    rows = await conn.execute(
        sa.select(p.employee_id, p.role, p.profile).where(
            p.program_id == program.program_id, p.status == "enrolled"
        )
    )
    participants = tuple(
        ParticipantFacts(
            employee_id=row.employee_id,
            role=row.role,
            profile=Profile.model_validate(row.profile),
        )
        for row in rows
    )
    people = {x.employee_id for x in participants}
    employees = await _employees(conn, people)
    managers = {e.manager_id for e in employees.values() if e.manager_id is not None}
    employees.update(await _employees(conn, managers - set(employees)))
    return PoolSnapshot(
        program=program,
        participants=participants,
        employees=employees,
        pairs=await _pairs(conn, program.program_id),
        blocked=await _blocked(conn, program.program_id),
        requesting=await _requesting(conn, program.program_id),
    )


async def _employees(conn: AsyncConnection, ids: set[str]) -> dict[str, EmployeeFacts]:
    found: dict[str, EmployeeFacts] = {}
    ordered = sorted(ids)
    c = tables.pool_employees.c
    for start in range(0, len(ordered), 5000):
        chunk = ordered[start : start + 5000]
        rows = await conn.execute(sa.select(tables.pool_employees).where(c.employee_id.in_(chunk)))
        for row in rows.mappings():
            found[row["employee_id"]] = EmployeeFacts(
                employee_id=row["employee_id"],
                department=row["department"],
                job_level=row["job_level"],
                manager_id=row["manager_id"],
                languages=tuple(row["languages"]),
                timezone=row["timezone"],
                location=row["location"],
                active=row["active"],
            )
    return found


async def _pairs(conn: AsyncConnection, program_id: str) -> tuple[PairFacts, ...]:
    c = tables.pairs.c
    rows = await conn.execute(
        sa.select(c.mentor_id, c.mentee_id, c.status).where(c.program_id == program_id)
    )
    return tuple(PairFacts(r.mentor_id, r.mentee_id, r.status) for r in rows)


async def _blocked(conn: AsyncConnection, program_id: str) -> tuple[tuple[str, str], ...]:
    c = tables.blocked_pairs.c
    rows = await conn.execute(
        sa.select(c.employee_a, c.employee_b).where(c.program_id == program_id)
    )
    return tuple((r.employee_a, r.employee_b) for r in rows)


async def _requesting(conn: AsyncConnection, program_id: str) -> frozenset[str]:
    c = tables.mentor_requests.c
    rows = await conn.execute(
        sa.select(c.mentee_id).where(c.program_id == program_id, c.status == "pending")
    )
    return frozenset(r.mentee_id for r in rows)
