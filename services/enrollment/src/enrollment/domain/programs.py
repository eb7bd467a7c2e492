"""The program aggregate: designed as a draft, opened and closed for applications, archived."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from enrollment.domain.errors import InvalidInputError, InvalidTransitionError
from mentorship_contracts import EventContract
from mentorship_contracts.enrollment import (
    Eligibility,
    ProgramArchived,
    ProgramClosed,
    ProgramCreated,
    ProgramOpened,
    ProgramSettings,
    ProgramUpdated,
)


class ProgramStatus(StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    CLOSED = "closed"
    ARCHIVED = "archived"


@dataclass(frozen=True, slots=True)
class Program:
    program_id: str
    settings: ProgramSettings
    status: ProgramStatus

    def rules_for(self, role: str) -> Eligibility:
        """The eligibility rules an applicant in ``role`` is held to."""
        if role == "mentor" and self.settings.mentor_eligibility is not None:
            return self.settings.mentor_eligibility
        return self.settings.eligibility

    def is_full_for_mentees(self, enrolled_mentees: int) -> bool:
        cap = self.settings.max_mentees
        return cap is not None and enrolled_mentees >= cap

    def free_mentee_places(self, enrolled_mentees: int) -> int | None:
        """Places left for mentees; None when the program caps nothing."""
        cap = self.settings.max_mentees
        return None if cap is None else max(cap - enrolled_mentees, 0)

    @property
    def promotes_from_waitlist(self) -> bool:
        """Whether a freed place goes to the waitlist's first in line without a manager:
        with automatic approval, while the program runs (open, or closed to new
        applications but not archived)."""
        return self.settings.approval == "auto" and self.status in {
            ProgramStatus.OPEN,
            ProgramStatus.CLOSED,
        }


def evolve(state: Program | None, event: EventContract) -> Program:
    match event:
        case ProgramCreated():
            return Program(event.program_id, event.settings, ProgramStatus.DRAFT)
        case ProgramUpdated():
            return Program(_existing(state).program_id, event.settings, _existing(state).status)
        case ProgramOpened():
            return _with_status(state, ProgramStatus.OPEN)
        case ProgramClosed():
            return _with_status(state, ProgramStatus.CLOSED)
        case ProgramArchived():
            return _with_status(state, ProgramStatus.ARCHIVED)
    msg = f"a program stream holds no {event.event_type()}"
    raise TypeError(msg)


def _existing(state: Program | None) -> Program:
    if state is None:
        msg = "a program event before ProgramCreated"
        raise ValueError(msg)
    return state


def _with_status(state: Program | None, status: ProgramStatus) -> Program:
    current = _existing(state)
    return Program(current.program_id, current.settings, status)


def check_settings(settings: ProgramSettings) -> None:
    """Rules across fields that a single field's validation cannot see."""
    if settings.ends_on is not None and settings.ends_on < settings.starts_on:
        raise InvalidInputError("ends_on", "must not be before starts_on")
    for prefix, rules in (
        ("eligibility", settings.eligibility),
        ("mentor_eligibility", settings.mentor_eligibility),
    ):
        if (
            rules is not None
            and rules.min_job_level is not None
            and rules.max_job_level is not None
            and rules.min_job_level > rules.max_job_level
        ):
            raise InvalidInputError(f"{prefix}.max_job_level", "must not be below min_job_level")


def create_program(program_id: str, settings: ProgramSettings) -> list[EventContract]:
    check_settings(settings)
    return [ProgramCreated(program_id=program_id, settings=settings)]


def update_program(state: Program, settings: ProgramSettings) -> list[EventContract]:
    if state.status is ProgramStatus.ARCHIVED:
        raise InvalidTransitionError(_name(state), state.status, "changed")
    check_settings(settings)
    if settings == state.settings:
        return []
    return [ProgramUpdated(program_id=state.program_id, settings=settings)]


def open_program(state: Program, today: date) -> list[EventContract]:
    """Open for applications; opening an open program changes nothing."""
    if state.status is ProgramStatus.OPEN:
        return []
    if state.status is ProgramStatus.ARCHIVED:
        raise InvalidTransitionError(_name(state), state.status, "opened")
    return [ProgramOpened(program_id=state.program_id, opened_on=today)]


def close_program(state: Program, today: date) -> list[EventContract]:
    """Close for applications; participants already enrolled stay enrolled."""
    if state.status is ProgramStatus.CLOSED:
        return []
    if state.status is not ProgramStatus.OPEN:
        raise InvalidTransitionError(_name(state), state.status, "closed")
    return [ProgramClosed(program_id=state.program_id, closed_on=today)]


def archive_program(state: Program) -> list[EventContract]:
    if state.status is ProgramStatus.ARCHIVED:
        return []
    return [ProgramArchived(program_id=state.program_id)]


def _name(state: Program) -> str:
    return f"program {state.program_id!r}"
