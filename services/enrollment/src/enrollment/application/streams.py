"""Stream ids of the aggregates, the clock, and folding freshly decided events."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import TypeVar

from mentorship_contracts import EventContract

S = TypeVar("S")


def program_stream(program_id: str) -> str:
    return f"program-{program_id}"


def employee_stream(employee_id: str) -> str:
    return f"employee-{employee_id}"


def enrollment_stream(enrollment_id: str) -> str:
    return f"enrollment-{enrollment_id}"


def today() -> date:
    """The date decisions are recorded on: the UTC calendar day."""
    return datetime.now(UTC).date()


def folded(
    state: S | None, events: Sequence[EventContract], evolve: Callable[[S | None, EventContract], S]
) -> S:
    """The state after ``events``; ``state`` itself when there are none."""
    for event in events:
        state = evolve(state, event)
    if state is None:
        msg = "nothing to fold: no state and no events"
        raise ValueError(msg)
    return state
