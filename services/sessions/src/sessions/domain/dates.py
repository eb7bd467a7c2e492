"""Date rules of logging and scheduling sessions.

"Today" depends on where the pair is: when it is 1 a.m. on the 2nd in Auckland it is
still the 1st in UTC. A held session is "in the future" only when its date has not
begun anywhere on Earth yet, i.e. it is later than the local date in UTC+14.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Final

from sessions.domain.errors import InvalidFieldError
from sessions.domain.pairs import ProgramCalendar

EARLIEST_UTC_OFFSET: Final = timedelta(hours=14)


def latest_local_date(now: datetime) -> date:
    """The latest calendar date anywhere on Earth at the instant ``now``."""
    return (now.astimezone(UTC) + EARLIEST_UTC_OFFSET).date()


def check_held_on(
    held_on: date, calendar: ProgramCalendar | None, now: datetime, *, field: str = "held_on"
) -> None:
    """A held session is in the past and within the program's dates (back-dating allowed).

    Without the program's dates (its event has not arrived yet) only the first rule holds.
    """
    if held_on > latest_local_date(now):
        raise InvalidFieldError(field, f"{held_on} is in the future; a held session has happened")
    if calendar is not None and not calendar.contains(held_on):
        raise InvalidFieldError(
            field, f"{held_on} is outside the program's dates ({calendar.describe()})"
        )


def check_scheduled_for(
    scheduled_for: datetime,
    calendar: ProgramCalendar | None,
    now: datetime,
    *,
    field: str = "scheduled_for",
) -> None:
    """A planned session lies ahead, within the program's dates."""
    if scheduled_for <= now:
        raise InvalidFieldError(field, f"{scheduled_for.isoformat()} is not in the future")
    if calendar is not None and not calendar.contains(scheduled_for.astimezone(UTC).date()):
        raise InvalidFieldError(
            field,
            f"{scheduled_for.isoformat()} is outside the program's dates ({calendar.describe()})",
        )
