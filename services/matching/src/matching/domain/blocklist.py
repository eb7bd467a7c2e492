"""A program's blocked pairs: employees an admin ruled out as a pair (either way round)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from matching.domain.errors import InvalidFieldError, NotFoundError
from mentorship_contracts import EventContract
from mentorship_contracts.matching import PairBlocked, PairUnblocked

_IDS: Final = uuid.UUID("a1e2c3d4-5b6f-4a7b-8c9d-0e1f2a3b4c5d")


def stream_id(program_id: str) -> str:
    return f"blocklist-{program_id}"


def block_id_for(program_id: str, employee_a: str, employee_b: str) -> str:
    """The same two employees always get the same id, whichever is named first."""
    first, second = sorted((employee_a, employee_b))
    return str(uuid.uuid5(_IDS, f"{program_id}\x00{first}\x00{second}"))


@dataclass(frozen=True, slots=True)
class Blocklist:
    program_id: str
    blocked: Mapping[str, tuple[str, str]] = field(default_factory=dict)


def evolve(state: Blocklist | None, event: EventContract) -> Blocklist:
    if not isinstance(event, PairBlocked | PairUnblocked):
        msg = f"{type(event).__name__} is not a blocklist event"
        raise TypeError(msg)
    blocked = dict(state.blocked) if state is not None else {}
    if isinstance(event, PairBlocked):
        first, second = event.employee_ids
        blocked[event.block_id] = (first, second)
    else:
        blocked.pop(event.block_id, None)
    return Blocklist(program_id=event.program_id, blocked=blocked)


def block(
    state: Blocklist | None,
    program_id: str,
    employee_a: str,
    employee_b: str,
    reason: str | None,
) -> list[EventContract]:
    """Rule the pair out; blocking a blocked pair again changes nothing."""
    if employee_a == employee_b:
        raise InvalidFieldError("employee_ids[1]", "a pair needs two different employees")
    block_id = block_id_for(program_id, employee_a, employee_b)
    if state is not None and block_id in state.blocked:
        return []
    first, second = sorted((employee_a, employee_b))
    return [
        PairBlocked(
            program_id=program_id,
            block_id=block_id,
            employee_ids=[first, second],
            reason=reason,
        )
    ]


def unblock(state: Blocklist | None, program_id: str, block_id: str) -> list[EventContract]:
    if state is None or block_id not in state.blocked:
        raise NotFoundError("blocked pair", block_id)
    first, second = state.blocked[block_id]
    return [PairUnblocked(program_id=program_id, block_id=block_id, employee_ids=[first, second])]
