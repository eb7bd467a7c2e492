"""The candidate pool of a program, as the engine sees it, and its fingerprint.

Input is what the pool projection knows (the program, its enrolled participants, the
directory facts of them and of their managers, every pair of the program, blocked
pairs, pending mentor requests); output is the engine's `MatchPool` plus the pairs the
hard constraints rule out. The rules:

- Only enrolled participants of active (not departed) employees are candidates.
- A mentee already in a proposed or active pair of the program, or waiting on a
  self-directed mentor request, is not a candidate; so is a peer in such a pair.
- A mentor's capacity is their profile's capacity (else the program's default) minus
  their proposed and active pairs of the program. In the group format a mentor leads
  one group: a mentor who already has pairs of the program takes no new group.
- Every earlier pair of the program, whatever became of it, is never proposed again.
- Skills, goals and interests are compared case-insensitively (trimmed, case-folded).
- A profile's languages and timezone win over the directory's; a timezone that is
  neither an IANA name nor a UTC offset is ignored (with a warning on the run).

The fingerprint digests the whole engine input. A run remembers it; publishing
recomputes it and refuses when it differs, so published proposals always satisfy the
hard constraints of the pool as it is when they are published.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from matching.domain.engine import CandidateProfile, MatchFormat, MatchPool, Role
from matching.domain.engine.errors import InvalidTimezoneError
from matching.domain.engine.timezones import utc_offset_hours
from matching.domain.errors import InvalidFieldError, UnavailableError
from mentorship_contracts.common import Profile

UNKNOWN = "unknown"
# Attributes a run's metrics can be broken down by, besides the engine's built-in ones.
LABELS: tuple[str, ...] = ("location", "timezone")
BREAKDOWN_ATTRIBUTES: tuple[str, ...] = ("department", "job_level", *LABELS)
LIVE: frozenset[str] = frozenset({"proposed", "active"})


@dataclass(frozen=True, slots=True)
class ProgramFacts:
    program_id: str
    status: str
    formats: tuple[str, ...]
    mentor_capacity: int


@dataclass(frozen=True, slots=True)
class EmployeeFacts:
    employee_id: str
    department: str | None = None
    job_level: int | None = None
    manager_id: str | None = None
    languages: tuple[str, ...] = ()
    timezone: str | None = None
    location: str | None = None
    active: bool = True


@dataclass(frozen=True, slots=True)
class ParticipantFacts:
    """An enrolled participant (withdrawn ones are not part of a snapshot)."""

    employee_id: str
    role: Literal["mentor", "mentee"]
    profile: Profile


@dataclass(frozen=True, slots=True)
class PairFacts:
    mentor_id: str
    mentee_id: str
    status: str

    @property
    def live(self) -> bool:
        return self.status in LIVE


@dataclass(frozen=True, slots=True)
class PoolSnapshot:
    """What the pool projection knows about one program at one moment.

    `employees` holds the participants' directory records and those of their managers
    and skip-level managers (reporting lines); `pairs` every pair of the program.
    """

    program: ProgramFacts
    participants: tuple[ParticipantFacts, ...]
    employees: Mapping[str, EmployeeFacts]
    pairs: tuple[PairFacts, ...] = ()
    blocked: tuple[tuple[str, str], ...] = ()
    requesting: frozenset[str] = frozenset()

    def employee(self, employee_id: str) -> EmployeeFacts:
        return self.employees.get(employee_id) or EmployeeFacts(employee_id)

    def is_active(self, employee_id: str) -> bool:
        return self.employee(employee_id).active

    def enrolled(self, role: Literal["mentor", "mentee"]) -> dict[str, ParticipantFacts]:
        return {
            p.employee_id: p
            for p in self.participants
            if p.role == role and self.is_active(p.employee_id)
        }

    def usage(self) -> Usage:
        mentored: Counter[str] = Counter()
        mentees: set[str] = set()
        for pair in self.pairs:
            if pair.live:
                mentored[pair.mentor_id] += 1
                mentees.add(pair.mentee_id)
        return Usage(mentored=mentored, mentees=frozenset(mentees))


@dataclass(frozen=True, slots=True)
class Usage:
    """Who is taken by proposed or active pairs of the program."""

    mentored: Mapping[str, int]
    mentees: frozenset[str]

    def paired(self, employee_id: str, *, as_mentor_too: bool) -> bool:
        return employee_id in self.mentees or (as_mentor_too and employee_id in self.mentored)


@dataclass(frozen=True, slots=True)
class BuiltPool:
    pool: MatchPool
    blocked_pairs: tuple[tuple[str, str], ...]
    previous_pairs: tuple[tuple[str, str], ...]
    fingerprint: str
    warnings: tuple[str, ...]


def mentor_capacity(
    snapshot: PoolSnapshot, mentor: ParticipantFacts, fmt: MatchFormat, usage: Usage | None = None
) -> int:
    """The mentees this mentor can still take in a run of format `fmt`."""
    own = mentor.profile.capacity or snapshot.program.mentor_capacity or 1
    used = (usage or snapshot.usage()).mentored.get(mentor.employee_id, 0)
    if fmt is MatchFormat.GROUP:
        return own if used == 0 else 0
    return max(0, own - used)


def eligible_mentees(
    snapshot: PoolSnapshot, fmt: MatchFormat, usage: Usage | None = None
) -> dict[str, ParticipantFacts]:
    """Mentees (every participant, for peers) who may be matched now."""
    usage = usage or snapshot.usage()
    peer = fmt is MatchFormat.PEER
    if peer:
        # One entry per employee; a participant enrolled in both roles brings the
        # profile of the mentee side (what they seek).
        people = {**snapshot.enrolled("mentor"), **snapshot.enrolled("mentee")}
    else:
        people = snapshot.enrolled("mentee")
    return {
        employee_id: participant
        for employee_id, participant in people.items()
        if employee_id not in snapshot.requesting
        and not usage.paired(employee_id, as_mentor_too=peer)
    }


def check_scope(snapshot: PoolSnapshot, fmt: MatchFormat, mentee_ids: Sequence[str]) -> None:
    """A rematch's mentees must be enrolled mentees (peers) free to be matched."""
    seen: set[str] = set()
    enrolled = (
        {p.employee_id for p in snapshot.participants}
        if fmt is MatchFormat.PEER
        else set(snapshot.enrolled("mentee"))
    )
    eligible = eligible_mentees(snapshot, fmt)
    for index, employee_id in enumerate(mentee_ids):
        field = f"mentee_ids[{index}]"
        if employee_id in seen:
            raise InvalidFieldError(field, f"{employee_id!r} is listed twice")
        seen.add(employee_id)
        if employee_id not in enrolled or not snapshot.is_active(employee_id):
            raise InvalidFieldError(field, f"{employee_id!r} is not an enrolled mentee")
        if employee_id not in eligible:
            raise UnavailableError(
                field, employee_id, "is in a proposed or active pair or waits on a mentor request"
            )


def build_pool(
    snapshot: PoolSnapshot, fmt: MatchFormat, mentee_ids: Sequence[str] | None = None
) -> BuiltPool:
    """The engine's input for a run of format `fmt` (limited to `mentee_ids` if given)."""
    warnings: list[str] = []
    usage = snapshot.usage()
    mentees = eligible_mentees(snapshot, fmt, usage)
    if mentee_ids is not None:
        wanted = set(mentee_ids)
        mentees = {k: v for k, v in mentees.items() if k in wanted}
    candidates = [_candidate(snapshot, p, Role.MENTEE, None, warnings) for p in mentees.values()]
    if fmt is not MatchFormat.PEER:
        candidates.extend(
            _candidate(snapshot, p, Role.MENTOR, mentor_capacity(snapshot, p, fmt, usage), warnings)
            for p in snapshot.enrolled("mentor").values()
        )
    candidates.sort(key=lambda c: (c.role.value, c.employee_id))
    lines = _reporting_lines(snapshot, (c.employee_id for c in candidates))
    previous = tuple(sorted({(p.mentor_id, p.mentee_id) for p in snapshot.pairs}))
    blocked = tuple(sorted(set(snapshot.blocked)))
    pool = MatchPool(candidates=tuple(candidates), reporting_lines=lines)
    return BuiltPool(
        pool=pool,
        blocked_pairs=blocked,
        previous_pairs=previous,
        fingerprint=_fingerprint(fmt, pool, blocked, previous),
        warnings=tuple(sorted(set(warnings))),
    )


def pair_pool(snapshot: PoolSnapshot, mentee_id: str, mentor_id: str) -> BuiltPool:
    """A pool of one mentee and one mentor (capacity 1), to score a chosen pair."""
    warnings: list[str] = []
    mentee = snapshot.enrolled("mentee")[mentee_id]
    mentor = snapshot.enrolled("mentor")[mentor_id]
    candidates = (
        _candidate(snapshot, mentee, Role.MENTEE, None, warnings),
        _candidate(snapshot, mentor, Role.MENTOR, 1, warnings),
    )
    lines = _reporting_lines(snapshot, (mentee_id, mentor_id))
    previous = tuple(sorted({(p.mentor_id, p.mentee_id) for p in snapshot.pairs}))
    blocked = tuple(sorted(set(snapshot.blocked)))
    pool = MatchPool(candidates=candidates, reporting_lines=lines)
    return BuiltPool(
        pool=pool,
        blocked_pairs=blocked,
        previous_pairs=previous,
        fingerprint=_fingerprint(MatchFormat.ONE_TO_ONE, pool, blocked, previous),
        warnings=tuple(warnings),
    )


def _tags(values: Iterable[str]) -> frozenset[str]:
    return frozenset(v.strip().casefold() for v in values if v.strip())


def _timezone(employee_id: str, options: Iterable[str | None], warnings: list[str]) -> str:
    for option in options:
        if option is None or not option.strip():
            continue
        try:
            utc_offset_hours(employee_id, option, None)
        except InvalidTimezoneError:
            warnings.append(f"timezone {option!r} of {employee_id!r} is not known; ignored")
            continue
        return option.strip()
    return "UTC"


def _candidate(
    snapshot: PoolSnapshot,
    participant: ParticipantFacts,
    role: Role,
    capacity: int | None,
    warnings: list[str],
) -> CandidateProfile:
    profile = participant.profile
    facts = snapshot.employee(participant.employee_id)
    timezone = _timezone(participant.employee_id, (profile.timezone, facts.timezone), warnings)
    return CandidateProfile(
        employee_id=participant.employee_id,
        role=role,
        skills_offered=_tags(profile.skills_offered),
        skills_sought=_tags(profile.skills_sought),
        goals=_tags(profile.goals),
        interests=_tags(profile.interests),
        languages=_tags(profile.languages or facts.languages),
        timezone=timezone,
        department=facts.department,
        job_level=facts.job_level or 0,
        manager_id=facts.manager_id,
        capacity=capacity,
        attributes={
            "location": facts.location or UNKNOWN,
            "timezone": profile.timezone or facts.timezone or UNKNOWN,
        },
    )


def _reporting_lines(snapshot: PoolSnapshot, people: Iterable[str]) -> dict[str, str | None]:
    """Employee -> manager for the candidates and their managers: enough for the engine
    to find managers and skip-level managers, even of people who are not enrolled."""
    lines: dict[str, str | None] = {}
    for employee_id in people:
        manager = snapshot.employee(employee_id).manager_id
        lines[employee_id] = manager
        if manager is not None:
            lines.setdefault(manager, snapshot.employee(manager).manager_id)
    return dict(sorted(lines.items()))


def _fingerprint(
    fmt: MatchFormat,
    pool: MatchPool,
    blocked: tuple[tuple[str, str], ...],
    previous: tuple[tuple[str, str], ...],
) -> str:
    document = {
        "format": fmt.value,
        "candidates": [
            {
                "id": c.employee_id,
                "role": c.role.value,
                "offered": sorted(c.skills_offered),
                "sought": sorted(c.skills_sought),
                "goals": sorted(c.goals),
                "interests": sorted(c.interests),
                "languages": sorted(c.languages),
                "timezone": c.timezone,
                "department": c.department,
                "level": c.job_level,
                "manager": c.manager_id,
                "capacity": c.capacity,
                "attributes": dict(sorted(c.attributes.items())),
            }
            for c in pool.candidates
        ],
        "reporting_lines": sorted(pool.reporting_lines.items(), key=lambda kv: kv[0]),
        "blocked": blocked,
        "previous": previous,
    }
    raw = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(raw.encode()).hexdigest()
