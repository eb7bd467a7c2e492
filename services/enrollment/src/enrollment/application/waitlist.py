"""Promotion from the waitlist, decided inside the command that freed the place.

A withdrawal of an enrolled mentee (by the participant, a manager, or a departure) and
a program update (a raised or removed ``max_mentees``, automatic approval switched on)
can leave places free. The command that does so calls :func:`decide_promotions` before
its first append, and appends the returned decisions with its own events: the place
is taken in the same transaction that freed it, or not at all.

Concurrency: the program's row is locked (after the employee's, as everywhere), the way
applying and approving lock it, so two withdrawals from one program decide one after
the other and each counts the places the other left. The enrollment streams' versions
stop anything the lock does not cover (a departure or a manager deciding on a
waitlisted applicant at the same moment): one of the two appends conflicts and its
command runs again from a fresh read.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import structlog

from enrollment.adapters import repository
from enrollment.application.streams import enrollment_stream, today
from enrollment.domain import enrollments
from enrollment.domain.employees import Employee
from enrollment.domain.enrollments import Enrollment
from enrollment.domain.programs import Program
from mentorship_contracts import EventContract
from mentorship_contracts.enrollment import ParticipantEnrolled
from mentorship_kit.commands import CommandTransaction
from mentorship_kit.eventstore import ConcurrencyConflictError

log = structlog.get_logger(__name__)

Decision = tuple[str, Sequence[EventContract], int]


@dataclass(frozen=True, slots=True)
class Promotions:
    """What the waitlist did: enrollment ids enrolled off it, and rejected on the way."""

    enrolled: tuple[str, ...] = ()
    rejected: tuple[str, ...] = ()

    def __add__(self, other: Promotions) -> Promotions:
        return Promotions(self.enrolled + other.enrolled, self.rejected + other.rejected)


NONE = Promotions()


async def decide_promotions(
    tx: CommandTransaction,
    program_id: str,
    *,
    freed: int = 0,
    program: Program | None = None,
    skip: Collection[str] = (),
) -> tuple[list[Decision], Promotions]:
    """The waitlist's moves in ``program_id``, to append with the command's own events.

    ``freed``: enrolled mentees the command is withdrawing (still counted as enrolled in
    the query tables until it appends). ``program``: the program as the command leaves
    it, when the command changes it. ``skip``: enrollments the command decides itself.
    """
    # The waitlisted applications' streams are read before the program's row is locked:
    # taking the lock gives the transaction its id, and a stream read after that could
    # hold an event of a later transaction (see mentorship_kit.commands, ordering rule).
    # The whole waitlist is read: it is short, and all of it moves when the cap goes.
    waiting = [
        row
        for row in await repository.waitlisted_mentees(tx.conn, program_id)
        if row.enrollment.enrollment_id not in skip
    ]
    streams = await tx.load_many(
        [enrollment_stream(row.enrollment.enrollment_id) for row in waiting], enrollments.evolve
    )
    people = await repository.get_employees(
        tx.conn, [row.enrollment.employee_id for row in waiting]
    )
    locked = await repository.get_program(tx.conn, program_id, lock=True)
    if locked is None:
        return [], NONE
    program = program or locked.program
    if not program.promotes_from_waitlist:
        return [], NONE
    enrolled = await repository.count_enrolled_mentees(tx.conn, program_id) - freed
    # The waitlist as the lock lets it be now: only what was read above can move. One
    # that joined since is at the end of the line; reaching it means running again.
    read = {row.enrollment.enrollment_id for row in waiting}
    line = [
        row.enrollment.enrollment_id
        for row in await repository.waitlisted_mentees(tx.conn, program_id)
        if row.enrollment.enrollment_id not in skip
    ]
    known = list(itertools.takewhile(lambda enrollment_id: enrollment_id in read, line))
    queue: list[tuple[Enrollment, Employee]] = []
    versions: dict[str, int] = {}
    for enrollment_id in known:
        loaded = streams[enrollment_stream(enrollment_id)]
        if loaded.state is not None and loaded.state.employee_id in people:
            queue.append((loaded.state, people[loaded.state.employee_id]))
            versions[enrollment_id] = loaded.version
    decided = enrollments.promote_waitlist(program, queue, enrolled_mentees=enrolled, today=today())
    done = NONE
    for state, events in decided:
        if isinstance(events[0], ParticipantEnrolled):
            done += Promotions(enrolled=(state.enrollment_id,))
        else:
            done += Promotions(rejected=(state.enrollment_id,))
    if len(known) < len(line) and program.free_mentee_places(enrolled + len(done.enrolled)) != 0:
        newcomer = line[len(known)]
        raise ConcurrencyConflictError(enrollment_stream(newcomer), "read before the lock")
    decisions: list[Decision] = [
        (enrollment_stream(state.enrollment_id), events, versions[state.enrollment_id])
        for state, events in decided
    ]
    if decisions:
        log.info(
            "enrollment.waitlist_promoted",
            program_id=program_id,
            enrolled=list(done.enrolled),
            rejected=list(done.rejected),
            freed=freed,
        )
    return decisions, done
