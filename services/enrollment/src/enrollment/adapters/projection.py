"""The query tables, kept from the events in the command's own transaction.

Each event is one row change (:mod:`enrollment.adapters.row_changes`): an insert, or an
update of some columns of one row. Changes are written together when they come
together — a bulk command (the directory import) collects its events with
:meth:`EnrollmentQueries.deferred`, a rebuild hands over whole batches — so that:

- a row inserted and updated in the same batch (an application submitted and decided
  at once) is written by one INSERT;
- changes of one shape go to the database as one statement (PostgreSQL: one
  ``unnest`` statement through the driver, whatever the number of rows; SQLite:
  SQLAlchemy's executemany), so a 10,000-row import costs a few round trips.

The projection is the kit's rebuildable kind: the tables can be dropped and rebuilt
from the event store at any time, and a rebuild writes through the same code. It keeps
personal data in clear (commands hand it the events as decided; a rebuild reads the
store through the service's vault) and blanks an employee's when they are erased.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Final

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from enrollment.adapters import tables
from enrollment.adapters.row_changes import RowChange, erased_values, merged, row_change, shapes
from mentorship_contracts import CloudEvent
from mentorship_kit.projection import Projection
from mentorship_kit.rows import write_rows

# The events of the command being collected by ``deferred``; one command per task.
_PENDING: ContextVar[list[CloudEvent] | None] = ContextVar("enrollment_pending", default=None)


class EnrollmentQueries(Projection):
    """programs, employees and enrollments as the API reads them."""

    name = "enrollment_queries"

    def __init__(self) -> None:
        super().__init__(tables.programs, tables.employees, tables.enrollments)

    async def handle(self, conn: AsyncConnection, event: CloudEvent) -> None:
        pending = _PENDING.get()
        if pending is not None:
            pending.append(event)
            return
        await self.apply(conn, [event])

    async def handle_batch(self, conn: AsyncConnection, events: Sequence[CloudEvent]) -> None:
        """A rebuild's batch: written like a bulk command's events."""
        await self.apply(conn, events)

    async def apply(self, conn: AsyncConnection, events: Sequence[CloudEvent]) -> None:
        """Write ``events``' row changes; a row's own changes keep their order.

        An erasure reads the row it blanks, so the changes before it are written first.
        """
        changes: list[RowChange] = []
        for event in events:
            if event.eventtype == "EmployeeErased":
                await self._write(conn, changes)
                changes = []
                await self._erase(conn, event)
            elif (change := row_change(event)) is not None:
                changes.append(change)
        await self._write(conn, changes)

    async def _write(self, conn: AsyncConnection, changes: list[RowChange]) -> None:
        for shape, rows in shapes(merged(changes)):
            await write_rows(conn, self.table(shape.table), shape, rows)

    async def _erase(self, conn: AsyncConnection, event: CloudEvent) -> None:
        table = self.table("employees")
        employee_id = event.data["employee_id"]
        where = table.c.employee_id == employee_id
        record = (await conn.execute(sa.select(table.c.record).where(where))).scalar_one_or_none()
        if record is None:
            return
        values = erased_values(employee_id, record, event.data)
        await conn.execute(table.update().where(where).values(**values, updated_at=event.time))

    @asynccontextmanager
    async def deferred(self, conn: AsyncConnection) -> AsyncIterator[None]:
        """Collect the events appended inside the block; write them together at its end."""
        if _PENDING.get() is not None:
            yield
            return
        pending: list[CloudEvent] = []
        token = _PENDING.set(pending)
        try:
            yield
        finally:
            _PENDING.reset(token)
        try:
            await self.apply(conn, pending)
        finally:
            # Callbacks scheduled inside the block keep a copy of its context, and with
            # it this list: asyncpg's statement-cache expiry timers live for minutes. A
            # kept 10,000-row import made every later full garbage collection slower.
            pending.clear()


# The one instance the service uses: inline in commands, and for ``deferred`` writes.
QUERIES: Final = EnrollmentQueries()
