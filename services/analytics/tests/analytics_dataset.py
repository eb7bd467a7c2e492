"""A known two-year history for the analytics tests, as plain facts and as contract events.

The facts (people with employment spells, enrollments, pairs, sessions, goals, answers)
are what the tests compute their expectations from; the events are what the producers
would publish for them. The scenario test documents what the story contains.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from analytics_support import EventLog, recorded_at

from mentorship_contracts import enrollment as en
from mentorship_contracts import matching as ma
from mentorship_contracts import sessions as se
from mentorship_contracts.common import Profile

TODAY = datetime.now(UTC).date()
P1, P2 = "prog-leaders", "prog-peers"
DEPARTMENTS = ["Engineering"] * 9 + ["Sales"] * 6 + ["HR"] * 2 + ["Finance"]
CADENCE = 14
TARGETS = {
    "match_rate": 0.6,
    "median_days_to_match": 20.0,
    "nps": 10.0,
    "mentee_retention_12m": 0.05,
    "sessions_per_active_pair_per_month": 1.5,
    "made_up_metric": 1.0,
}


# -- the dataset: plain facts, from which both the events and the expectations come ----


@dataclass
class Person:
    employee_id: str
    department: str | None
    # Employment spells [start, end]; end None = still employed. A departure "undone"
    # (reinstated on or before its date) is not a spell end at all.
    spells: list[list[date | None]]
    hired_on_known: bool = True


@dataclass
class Enrollment:
    enrollment_id: str
    program_id: str
    employee_id: str
    role: str
    submitted_on: date
    enrolled_on: date | None
    outcome: str  # enrolled | rejected | waitlisted


@dataclass
class PairFact:
    pair_id: str
    program_id: str
    mentor_id: str
    mentee_id: str
    proposed_on: date
    formed_on: date | None
    ended_on: date | None


@dataclass
class SessionFact:
    session_id: str
    pair_id: str
    held_on: date | None  # None: scheduled then cancelled
    minutes: int


@dataclass
class GoalFact:
    goal_id: str
    pair_id: str
    set_on: date
    achieved_on: date | None
    dropped_on: date | None


@dataclass
class Answer:
    feedback_id: str
    pair_id: str
    rating: int
    nps: int | None
    submitted_on: date
    kind: str


@dataclass
class Dataset:
    people: list[Person] = field(default_factory=list)
    enrollments: list[Enrollment] = field(default_factory=list)
    pairs: list[PairFact] = field(default_factory=list)
    sessions: list[SessionFact] = field(default_factory=list)
    goals: list[GoalFact] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)
    fit_failed: list[tuple[str, date]] = field(default_factory=list)
    # (employee, departure date, reinstated on) for departures undone
    undone: list[tuple[str, date, date]] = field(default_factory=list)
    # employee ids whose departure was restated with deprovisioned=true
    restated: set[str] = field(default_factory=set)
    promotions: list[tuple[str, date]] = field(default_factory=list)
    moved: dict[str, str] = field(default_factory=dict)  # employee -> department before


def day(offset: int) -> date:
    return TODAY - timedelta(days=offset)


def build_dataset(seed: int = 20240607) -> Dataset:  # noqa: C901, PLR0912, PLR0915 - one story
    rng = random.Random(seed)
    data = Dataset()
    for n in range(110):
        department = None if n == 0 else DEPARTMENTS[n % len(DEPARTMENTS)]
        hired = day(rng.randint(20, 1600))
        spells: list[list[date | None]] = [[hired, None]]
        roll = rng.random()
        if roll < 0.22:
            spells[0][1] = min(hired + timedelta(days=rng.randint(15, 900)), day(1))
        elif roll < 0.25:
            spells[0][1] = TODAY + timedelta(days=rng.randint(5, 40))  # scheduled departure
        person = Person(f"emp-{n:03d}", department, spells)
        data.people.append(person)
    # A departure undone before it took effect; someone the HRIS gave no hire date (the
    # day the record arrived counts); rehires; a departure restated by deprovisioning.
    undone, unknown = data.people[7], data.people[11]
    undone.spells = [[undone.spells[0][0], None]]
    data.undone.append((undone.employee_id, day(5) + timedelta(days=30), day(5)))
    unknown.hired_on_known = False
    unknown.spells = [[day(400), None]]
    departed = [
        p
        for p in data.people
        if p.spells[0][1] is not None and p.spells[0][1] < day(60) and p not in (undone, unknown)
    ]
    for person in departed[:3]:
        left = person.spells[0][1]
        assert left is not None
        back = min(left + timedelta(days=rng.randint(20, 200)), day(2))
        person.spells.append([back, None])
    data.restated.add(departed[3].employee_id)
    for person in data.people[20:30]:
        data.promotions.append((person.employee_id, day(rng.randint(10, 500))))
    for person in data.people[30:34]:
        data.moved[person.employee_id] = "Marketing"
    # Program 1: mentors and mentees over two years; program 2: a small peer program.
    candidates = [p for p in data.people[1:] if p.spells[0][0] < day(30)]
    rng.shuffle(candidates)
    mentors, mentees, peers = candidates[:9], candidates[9:45], candidates[45:52]
    counter = iter(range(10_000))
    for role, group in (("mentor", mentors), ("mentee", mentees)):
        for person in group:
            start = person.spells[0][0]
            assert start is not None
            submitted = max(day(rng.randint(5, 700)), start)
            roll = rng.random()
            if roll < 0.1:
                data.enrollments.append(
                    Enrollment(
                        f"enr-{next(counter)}",
                        P1,
                        person.employee_id,
                        role,
                        submitted,
                        None,
                        "rejected",
                    )
                )
                continue
            wait = rng.randint(0, 12) if roll < 0.85 else rng.randint(20, 60)
            enrolled = min(submitted + timedelta(days=wait), TODAY)
            outcome = "enrolled" if roll < 0.85 else "waitlisted"
            data.enrollments.append(
                Enrollment(
                    f"enr-{next(counter)}",
                    P1,
                    person.employee_id,
                    role,
                    submitted,
                    enrolled,
                    outcome,
                )
            )
    # One mentee enrolled twice (withdrew, came back): the first approval counts.
    again = next(e for e in data.enrollments if e.role == "mentee" and e.enrolled_on is not None)
    later = min(again.enrolled_on + timedelta(days=90), TODAY)  # type: ignore[operator]
    data.enrollments.append(
        Enrollment(
            f"enr-{next(counter)}", P1, again.employee_id, "mentee", later, later, "enrolled"
        )
    )
    for person in peers:
        when = day(rng.randint(10, 300))
        data.enrollments.append(
            Enrollment(
                f"enr-{next(counter)}", P2, person.employee_id, "mentee", when, when, "enrolled"
            )
        )
    # Pairs: most approved mentees are matched, some after a declined proposal, some rematched.
    approved = [
        e for e in data.enrollments if e.program_id == P1 and e.role == "mentee" and e.enrolled_on
    ]
    mentor_ids = [e.employee_id for e in data.enrollments if e.role == "mentor" and e.enrolled_on]
    seen: set[str] = set()
    for enrollment in approved:
        if enrollment.employee_id in seen or rng.random() < 0.2:
            continue
        seen.add(enrollment.employee_id)
        assert enrollment.enrolled_on is not None
        proposed = enrollment.enrolled_on + timedelta(days=rng.randint(0, 30))
        if proposed > TODAY:
            continue
        if rng.random() < 0.2:
            data.pairs.append(
                PairFact(
                    f"pair-{next(counter)}",
                    P1,
                    rng.choice(mentor_ids),
                    enrollment.employee_id,
                    proposed,
                    None,
                    None,
                )
            )
            proposed = min(proposed + timedelta(days=rng.randint(3, 20)), TODAY)
        formed = min(proposed + timedelta(days=rng.randint(0, 10)), TODAY)
        ended = None
        if rng.random() < 0.3:
            ended = formed + timedelta(days=rng.randint(0, 200))
            ended = ended if ended <= TODAY else None
        pair = PairFact(
            f"pair-{next(counter)}",
            P1,
            rng.choice(mentor_ids),
            enrollment.employee_id,
            proposed,
            formed,
            ended,
        )
        data.pairs.append(pair)
        if ended is not None and rng.random() < 0.5 and ended < day(10):
            rematch = ended + timedelta(days=rng.randint(1, 9))
            data.pairs.append(
                PairFact(
                    f"pair-{next(counter)}",
                    P1,
                    rng.choice(mentor_ids),
                    enrollment.employee_id,
                    rematch,
                    rematch,
                    None,
                )
            )
    # Sessions, goals and answers of each formed pair.
    quiet = {p.pair_id for p in data.pairs[:40:7]}  # these pairs stop meeting
    for pair in data.pairs:
        if pair.formed_on is None:
            continue
        end = pair.ended_on or TODAY
        if pair.pair_id in quiet:
            end = min(end, day(60))
        held = pair.formed_on + timedelta(days=rng.randint(0, 10))
        if rng.random() < 0.25:  # history brought over from a spreadsheet
            data.sessions.append(
                SessionFact(
                    f"ses-{next(counter)}",
                    pair.pair_id,
                    pair.formed_on - timedelta(days=rng.randint(1, 40)),
                    60,
                )
            )
        while held <= end:
            if rng.random() < 0.1:
                data.sessions.append(SessionFact(f"ses-{next(counter)}", pair.pair_id, None, 30))
            else:
                data.sessions.append(
                    SessionFact(
                        f"ses-{next(counter)}", pair.pair_id, held, rng.choice([30, 45, 60, 90])
                    )
                )
                if held >= day(400) and rng.random() < 0.6:
                    low = pair.pair_id in quiet
                    data.answers.append(
                        Answer(
                            f"fb-{next(counter)}",
                            pair.pair_id,
                            rng.randint(1, 2) if low else rng.randint(2, 5),
                            rng.randint(0, 10) if rng.random() < 0.7 else None,
                            min(held + timedelta(days=rng.randint(0, 3)), TODAY),
                            "session",
                        )
                    )
            held += timedelta(days=rng.randint(CADENCE - 5, CADENCE + 8))
        for _ in range(rng.randint(0, 3)):
            set_on = pair.formed_on + timedelta(days=rng.randint(0, 60))
            if set_on > TODAY:
                continue
            achieved = set_on + timedelta(days=rng.randint(10, 200)) if rng.random() < 0.5 else None
            dropped = (
                set_on + timedelta(days=rng.randint(5, 100))
                if achieved is None and rng.random() < 0.3
                else None
            )
            data.goals.append(
                GoalFact(
                    f"goal-{next(counter)}",
                    pair.pair_id,
                    set_on,
                    achieved if achieved and achieved <= TODAY else None,
                    dropped if dropped and dropped <= TODAY else None,
                )
            )
        if pair.formed_on >= day(300) and rng.random() < 0.5:
            checkin_on = min(pair.formed_on + timedelta(days=30), TODAY)
            data.answers.append(
                Answer(
                    f"fb-{next(counter)}",
                    pair.pair_id,
                    rng.randint(1, 5),
                    rng.randint(0, 10),
                    checkin_on,
                    "checkin",
                )
            )
    failing = next(
        p for p in data.pairs if p.formed_on and p.ended_on is None and p.pair_id not in quiet
    )
    data.fit_failed.append((failing.pair_id, max(failing.formed_on, day(3))))  # type: ignore[type-var]
    return data


# -- the dataset as contract events --------------------------------------------------------


def program_settings(
    program_id: str, starts_on: date, targets: dict[str, float]
) -> en.ProgramSettings:
    return en.ProgramSettings(
        name=program_id,
        objective="retention",
        formats=["one_to_one"],
        tracks=["leadership"],
        starts_on=starts_on,
        ends_on=None,
        cadence_days=CADENCE,
        mentor_capacity=3,
        approval="manual",
        kpi_targets=[en.KpiTarget(metric=m, target=t) for m, t in targets.items()],
    )


def record(person: Person, department: str | None, level: int) -> en.EmployeeRecord:
    return en.EmployeeRecord(
        email=f"{person.employee_id}@example.com",
        given_name="Given",
        family_name="Family",
        department=department,
        job_level=level,
        hired_on=person.spells[0][0] if person.hired_on_known else None,
    )


def directory_events(data: Dataset, log: EventLog) -> None:  # noqa: C901, PLR0912 - one branch per story element
    at = recorded_at
    log.add(
        en.ProgramCreated(program_id=P1, settings=program_settings(P1, day(700), {})),
        at=at(day(720)),
    )
    log.add(
        en.ProgramUpdated(program_id=P1, settings=program_settings(P1, day(700), TARGETS)),
        at=at(day(710)),
    )
    log.add(en.ProgramOpened(program_id=P1, opened_on=day(700)), at=at(day(700)))
    log.add(
        en.ProgramCreated(program_id=P2, settings=program_settings(P2, day(320), {})),
        at=at(day(330)),
    )
    for person in data.people:
        first = person.spells[0][0]
        assert first is not None
        provisioned_at = at(first if person.hired_on_known else day(400))
        department = data.moved.get(person.employee_id, person.department)
        log.add(
            en.EmployeeProvisioned(
                employee_id=person.employee_id, record=record(person, department, 3)
            ),
            at=provisioned_at,
        )
        if person.employee_id in data.moved:
            log.add(
                en.EmployeeUpdated(
                    employee_id=person.employee_id,
                    record=record(person, person.department, 3),
                    changed=["department"],
                ),
                at=at(day(100)),
            )
        promoted = [d for e, d in data.promotions if e == person.employee_id]
        if promoted:
            log.add(
                en.EmployeeUpdated(
                    employee_id=person.employee_id,
                    record=record(person, person.department, 4),
                    changed=["job_level"],
                ),
                at=at(promoted[0]),
            )
            log.add(
                en.EmployeePromoted(
                    employee_id=person.employee_id,
                    from_level=3,
                    to_level=4,
                    promoted_on=promoted[0],
                ),
                at=at(promoted[0]),
            )
        for index, (start, end) in enumerate(person.spells):
            if index > 0:
                assert start is not None
                log.add(
                    en.EmployeeReinstated(employee_id=person.employee_id, reinstated_on=start),
                    at=at(start),
                )
            if end is not None:
                left = en.EmployeeDeparted(
                    employee_id=person.employee_id, left_on=end, reason="voluntary"
                )
                log.add(left, at=at(min(end, TODAY)))
                if person.employee_id in data.restated:
                    log.add(left.model_copy(update={"deprovisioned": True}), at=at(TODAY))
        for employee_id, left_on, back_on in data.undone:
            if employee_id == person.employee_id:
                log.add(
                    en.EmployeeDeparted(employee_id=employee_id, left_on=left_on, reason="other"),
                    at=at(back_on - timedelta(days=1)),
                )
                log.add(
                    en.EmployeeReinstated(employee_id=employee_id, reinstated_on=back_on),
                    at=at(back_on),
                )
    for e in data.enrollments:
        ids = {
            "enrollment_id": e.enrollment_id,
            "program_id": e.program_id,
            "employee_id": e.employee_id,
            "role": e.role,
        }
        log.add(
            en.ApplicationSubmitted(**ids, profile=Profile(), submitted_on=e.submitted_on),
            at=at(e.submitted_on),
        )
        if e.outcome == "rejected":
            log.add(
                en.ApplicationRejected(**ids, reasons=["capacity"], rejected_on=e.submitted_on),
                at=at(e.submitted_on),
            )
            continue
        if e.outcome == "waitlisted":
            log.add(
                en.ApplicationWaitlisted(**ids, waitlisted_on=e.submitted_on), at=at(e.submitted_on)
            )
        assert e.enrolled_on is not None
        log.add(
            en.ParticipantEnrolled(**ids, profile=Profile(), enrolled_on=e.enrolled_on),
            at=at(e.enrolled_on),
        )
    # Withdrawals after approval do not undo "is or was enrolled".
    for e in data.enrollments[::6]:
        if e.enrolled_on is not None and e.enrolled_on < day(20):
            log.add(
                en.ParticipantWithdrew(
                    enrollment_id=e.enrollment_id,
                    program_id=e.program_id,
                    employee_id=e.employee_id,
                    role=e.role,
                    reason="self",
                    withdrew_on=e.enrolled_on + timedelta(days=10),
                ),
                at=at(e.enrolled_on + timedelta(days=10)),
            )


def matching_events(data: Dataset, log: EventLog) -> None:
    at = recorded_at
    for p in data.pairs:
        ids = {
            "pair_id": p.pair_id,
            "program_id": p.program_id,
            "mentor_id": p.mentor_id,
            "mentee_id": p.mentee_id,
        }
        log.add(
            ma.PairProposed(
                **ids,
                run_id=None,
                format="one_to_one",
                score=0.7,
                explanation=[],
                algorithm_version="test",
                proposed_on=p.proposed_on,
            ),
            at=at(p.proposed_on),
        )
        if p.formed_on is None:
            log.add(
                ma.PairDeclined(
                    **ids, side="mentee", declined_by=p.mentee_id, declined_on=p.proposed_on
                ),
                at=at(p.proposed_on),
            )
            continue
        log.add(ma.PairAccepted(**ids, side="mentor", accepted_by=p.mentor_id), at=at(p.formed_on))
        log.add(
            ma.PairFormed(**ids, format="one_to_one", formed_on=p.formed_on), at=at(p.formed_on)
        )
        if p.ended_on is not None:
            log.add(
                ma.PairEnded(**ids, reason="completed", ended_by=None, ended_on=p.ended_on),
                at=at(p.ended_on),
            )


def sessions_events(data: Dataset, log: EventLog) -> None:
    at = recorded_at
    pairs = {p.pair_id: p for p in data.pairs}
    for s in data.sessions:
        pair = pairs[s.pair_id]
        ids = {"session_id": s.session_id, "pair_id": s.pair_id, "program_id": pair.program_id}
        if s.held_on is None:
            planned = datetime.combine(pair.formed_on, datetime.min.time(), tzinfo=UTC)  # type: ignore[arg-type]
            log.add(
                se.SessionScheduled(**ids, scheduled_for=planned, expected_minutes=30, mode="video")
            )
            log.add(se.SessionCancelled(**ids, outcome="no_show", cancelled_on=pair.formed_on))
            continue
        if s.held_on.day % 3 == 0:  # planned first, then logged as held
            planned = datetime.combine(s.held_on, datetime.min.time(), tzinfo=UTC)
            log.add(
                se.SessionScheduled(
                    **ids, scheduled_for=planned, expected_minutes=s.minutes, mode="video"
                )
            )
        log.add(
            se.SessionLogged(**ids, held_on=s.held_on, duration_minutes=s.minutes, topic_count=1),
            at=at(s.held_on),
        )
    for g in data.goals:
        ids = {"goal_id": g.goal_id, "pair_id": g.pair_id, "program_id": P1}
        log.add(
            se.GoalSet(
                **ids,
                mentee_id=pairs[g.pair_id].mentee_id,
                target_date=None,
                milestone_count=0,
                set_on=g.set_on,
            )
        )
        log.add(se.GoalProgressed(**ids, progress=40, milestones_done=0))
        if g.achieved_on is not None:
            log.add(se.GoalAchieved(**ids, achieved_on=g.achieved_on))
        if g.dropped_on is not None:
            log.add(se.GoalDropped(**ids, dropped_on=g.dropped_on))
    for a in data.answers:
        pair = pairs[a.pair_id]
        ids = {
            "feedback_id": a.feedback_id,
            "pair_id": a.pair_id,
            "program_id": pair.program_id,
            "respondent_id": pair.mentee_id,
            "respondent_role": "mentee",
        }
        log.add(
            se.FeedbackSubmitted(
                **ids, kind=a.kind, rating=a.rating, nps=a.nps, submitted_on=a.submitted_on
            ),
            at=at(a.submitted_on),
        )
        if a.kind == "checkin":
            log.add(
                se.CheckInCompleted(
                    **ids,
                    relationship_quality=a.rating,
                    nps=a.nps or 0,
                    completed_on=a.submitted_on,
                ),
                at=at(a.submitted_on),
            )
    for pair_id, reported_on in data.fit_failed:
        pair = pairs[pair_id]
        log.add(
            se.FitCheckFailed(
                feedback_id=f"fit-{pair_id}",
                pair_id=pair_id,
                program_id=pair.program_id,
                respondent_id=pair.mentee_id,
                respondent_role="mentee",
                reported_on=reported_on,
            ),
            at=recorded_at(reported_on),
        )


def history(data: Dataset) -> EventLog:
    """Every event of the dataset, per producing service, in publication order."""
    log = EventLog()
    directory_events(data, log)
    matching_events(data, log)
    sessions_events(data, log)
    return log
