"""The facts metrics are computed from: plain values with their business dates.

The adapters load them (already narrowed to what happened on or before ``as_of``
where a query can do that cheaply); the functions of this package decide what counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime


@dataclass(frozen=True, slots=True)
class Spell:
    """One period of employment; ``ended_on`` is the departure date (still employed on it)."""

    began_on: date
    ended_on: date | None

    def covers(self, day: date) -> bool:
        return self.began_on <= day and (self.ended_on is None or self.ended_on >= day)


@dataclass(frozen=True, slots=True)
class Employee:
    employee_id: str
    department: str | None
    job_level: int | None
    spells: tuple[Spell, ...]

    @property
    def first_day(self) -> date:
        return self.spells[0].began_on

    def spell_at(self, day: date) -> Spell | None:
        return next((s for s in self.spells if s.covers(day)), None)


@dataclass(frozen=True, slots=True)
class KpiTarget:
    metric: str
    target: float


@dataclass(frozen=True, slots=True)
class Program:
    program_id: str
    name: str
    starts_on: date | None
    ends_on: date | None
    cadence_days: int | None
    kpi_targets: tuple[KpiTarget, ...]


@dataclass(frozen=True, slots=True)
class Participation:
    """An employee's first approval into a program in one role."""

    employee_id: str
    role: str
    enrolled_on: date


@dataclass(frozen=True, slots=True)
class Pair:
    pair_id: str
    mentor_id: str
    mentee_id: str
    formed_on: date | None
    ended_on: date | None

    def formed_by(self, day: date) -> bool:
        return self.formed_on is not None and self.formed_on <= day

    def ended_by(self, day: date) -> bool:
        return self.ended_on is not None and self.ended_on <= day

    def active_on(self, day: date) -> bool:
        return self.formed_by(day) and not self.ended_by(day)


@dataclass(frozen=True, slots=True)
class HeldSession:
    pair_id: str
    held_on: date
    duration_minutes: int


@dataclass(frozen=True, slots=True)
class SessionTotals:
    """Held sessions on or before as_of, and those of the last 30 days."""

    held: int
    minutes: int
    held_last_30_days: int


@dataclass(frozen=True, slots=True)
class GoalTotals:
    set: int
    achieved: int


@dataclass(frozen=True, slots=True)
class FeedbackTotals:
    responses: int
    rating_sum: int
    nps_answers: int
    promoters: int
    detractors: int


@dataclass(frozen=True, slots=True)
class Rating:
    """One feedback answer; ``recorded_at`` and ``feedback_id`` order same-day answers."""

    pair_id: str
    rating: int
    nps: int | None
    submitted_on: date
    recorded_at: datetime
    feedback_id: str


@dataclass(frozen=True, slots=True)
class Checkin:
    completed_on: date
