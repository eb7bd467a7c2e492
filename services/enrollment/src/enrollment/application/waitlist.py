"""Promotion from the waitlist, decided inside the command that freed the place.

A withdrawal of an enrolled mentee (by the participant, a manager, or a departure) and
a program update (a raised or removed ``max_mentees``, automatic approval switched on)
can leave places free. The command that does so calls :func:`decide_promotions` before
its first append, and appends the returned decisions with its own events: the place
is taken in the same transaction that freed it, or not at all.

Concurrency: the program's row is locked first (after the employee's, as everywhere),
the way applying and approving lock it, so two withdrawals from one program decide one
after the other and each counts the places the other left. The enrollment streams'
versions stop anything the lock does not cover (a departure or a manager deciding on a
waitlisted applicant at the same moment): one of the two appends conflicts and its
command runs again from a fresh read.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import structlog

from enrollment.adapters import repository
from enrollment.application.streams import enrollment_stream, today
from enrollment.domain import enrollments
from enrollment.domain.enrollments import Enrollment
from enrollment.domain.programs import Program
from mentorship_contracts import EventContract
from mentorship_contracts.enrollment import ParticipantEnrolled
from mentorship_kit.commands import CommandTransaction

log = structlog.get_logger(__name__)

# Waitlisted applications read per query while places remain (rejections may need more).
_PAGE = 100

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
    row = await repository.get_program(tx.conn, program_id, lock=True)
    if row is None:
        return [], NONE
    program = program or row.program
    if not program.promotes_from_waitlist:
        return [], NONE
    enrolled = await repository.count_enrolled_mentees(tx.conn, program_id) - freed
    decisions: list[Decision] = []
    done = NONE
    after_seq: int | None = None
    day = today()
    while program.free_mentee_places(enrolled) != 0:
        page = await repository.waitlisted_mentees(
            tx.conn, program_id, after_seq=after_seq, limit=_PAGE
        )
        if not page:
            break
        after_seq = page[-1].seq
        ids = [r.enrollment.enrollment_id for r in page if r.enrollment.enrollment_id not in skip]
        streams = await tx.load_many([enrollment_stream(i) for i in ids], enrollments.evolve)
        people = await repository.get_employees(tx.conn, [r.enrollment.employee_id for r in page])
        queue: list[tuple[Enrollment, int]] = []
        for enrollment_id in ids:
            loaded = streams[enrollment_stream(enrollment_id)]
            if loaded.state is not None and loaded.state.employee_id in people:
                queue.append((loaded.state, loaded.version))
        versions = {state.enrollment_id: version for state, version in queue}
        decided = enrollments.promote_waitlist(
            program,
            [(state, people[state.employee_id]) for state, _ in queue],
            enrolled_mentees=enrolled,
            today=day,
        )
        for state, events in decided:
            decisions.append(
                (enrollment_stream(state.enrollment_id), events, versions[state.enrollment_id])
            )
            if isinstance(events[0], ParticipantEnrolled):
                done += Promotions(enrolled=(state.enrollment_id,))
                enrolled += 1
            else:
                done += Promotions(rejected=(state.enrollment_id,))
    if decisions:
        log.info(
            "enrollment.waitlist_promoted",
            program_id=program_id,
            enrolled=list(done.enrolled),
            rejected=list(done.rejected),
            freed=freed,
        )
    return decisions, done
