"""The pair registry: what the sessions service knows of pairs and programs.

Pairs and programs belong to other services; this service keeps a projection of their
events (matching's pair events, enrollment's program events) and decides with it. The
functions here are that projection's logic, kept pure so that the rules (statuses only
move forward, an ended pair stays ended) are unit-tested without a database.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Final, Literal

from mentorship_contracts.common import Role
from mentorship_contracts.enrollment import ProgramCreated, ProgramUpdated
from mentorship_contracts.matching import PairDeclined, PairEnded, PairFormed, PairProposed
from sessions.domain.errors import NotAPairMemberError, PairNotActiveError

PairStatus = Literal["proposed", "active", "declined", "ended"]
PairEvent = PairProposed | PairFormed | PairDeclined | PairEnded
ProgramEvent = ProgramCreated | ProgramUpdated

# A pair moves proposed -> active -> ended, or proposed -> declined. Events of one pair
# arrive in order, but a projection that only ever moves forward also survives a replay
# from an older checkpoint.
_RANK: Final[dict[PairStatus, int]] = {"proposed": 0, "active": 1, "declined": 2, "ended": 2}


@dataclass(frozen=True, slots=True)
class ProgramCalendar:
    """The program's dates and meeting cadence, as enrollment last announced them."""

    program_id: str
    starts_on: date
    ends_on: date | None
    cadence_days: int

    def contains(self, day: date) -> bool:
        return self.starts_on <= day and (self.ends_on is None or day <= self.ends_on)

    def describe(self) -> str:
        return f"{self.starts_on} to {self.ends_on or 'open end'}"


@dataclass(frozen=True, slots=True)
class Pair:
    """A mentor-mentee pair as matching announced it."""

    pair_id: str
    program_id: str
    mentor_id: str
    mentee_id: str
    status: PairStatus
    formed_on: date | None = None
    ended_on: date | None = None
    end_reason: str | None = None

    def role_of(self, employee_id: str | None) -> Role | None:
        if employee_id is None:
            return None
        if employee_id == self.mentor_id:
            return "mentor"
        if employee_id == self.mentee_id:
            return "mentee"
        return None

    @property
    def is_active(self) -> bool:
        return self.status == "active"


@dataclass(frozen=True, slots=True)
class PairContext:
    """Everything a decision needs to know about the pair it is made for."""

    pair: Pair
    calendar: ProgramCalendar | None

    @property
    def pair_id(self) -> str:
        return self.pair.pair_id

    @property
    def program_id(self) -> str:
        return self.pair.program_id

    def require_active(self) -> None:
        if not self.pair.is_active:
            raise PairNotActiveError(self.pair.pair_id, self.pair.status)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asks: the employee id they act as (participants only), and whether they are
    an admin."""

    employee_id: str | None
    is_admin: bool = False


def authorize(pair: Pair, actor: Actor, *, admin_allowed: bool) -> Role | None:
    """The actor's role in the pair; None for an admin acting from outside it.

    Raises NotAPairMemberError for anyone else (and for admins where only members may act).
    """
    role = pair.role_of(actor.employee_id)
    if role is not None:
        return role
    if admin_allowed and actor.is_admin:
        return None
    raise NotAPairMemberError(pair.pair_id)


def project_pair(current: Pair | None, event: PairEvent) -> Pair:
    """The registry entry after ``event``; a status never moves backwards."""
    status, changes = _effect(event)
    if current is None:
        return Pair(
            pair_id=event.pair_id,
            program_id=event.program_id,
            mentor_id=event.mentor_id,
            mentee_id=event.mentee_id,
            status=status,
            formed_on=changes.get("formed_on"),
            ended_on=changes.get("ended_on"),
            end_reason=_end_reason(event),
        )
    if _RANK[status] < _RANK[current.status] or (
        _RANK[status] == _RANK[current.status] and status != current.status
    ):
        return current
    return replace(
        current,
        status=status,
        formed_on=changes.get("formed_on", current.formed_on),
        ended_on=changes.get("ended_on", current.ended_on),
        end_reason=_end_reason(event) or current.end_reason,
    )


def _effect(event: PairEvent) -> tuple[PairStatus, dict[str, date]]:
    if isinstance(event, PairProposed):
        return "proposed", {}
    if isinstance(event, PairFormed):
        return "active", {"formed_on": event.formed_on}
    if isinstance(event, PairDeclined):
        return "declined", {}
    return "ended", {"ended_on": event.ended_on}


def _end_reason(event: PairEvent) -> str | None:
    return event.reason if isinstance(event, PairEnded) else None


def project_program(event: ProgramEvent) -> ProgramCalendar:
    """The calendar a program's settings give; the latest settings replace older ones."""
    settings = event.settings
    return ProgramCalendar(
        program_id=event.program_id,
        starts_on=settings.starts_on,
        ends_on=settings.ends_on,
        cadence_days=settings.cadence_days,
    )
