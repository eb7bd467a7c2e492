"""Program use cases: design, change, open, close, archive."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import structlog
from pydantic import ValidationError

from enrollment.adapters.projection import QUERIES
from enrollment.application import waitlist
from enrollment.application.streams import folded, program_stream, today
from enrollment.application.waitlist import Promotions
from enrollment.domain import programs
from enrollment.domain.errors import InvalidInputError, ProgramNotFoundError
from enrollment.domain.programs import Program
from mentorship_contracts import EventContract
from mentorship_contracts.enrollment import ProgramSettings
from mentorship_kit.commands import CommandTransaction, UseCase
from mentorship_kit.eventstore import NO_STREAM

log = structlog.get_logger(__name__)


def create_program(settings: ProgramSettings) -> UseCase[Program]:
    async def use_case(tx: CommandTransaction) -> Program:
        program_id = str(uuid.uuid4())
        events = programs.create_program(program_id, settings)
        await tx.append(program_stream(program_id), events, expected_version=NO_STREAM)
        log.info("program.created", program_id=program_id, approval=settings.approval)
        return folded(None, events, programs.evolve)

    return use_case


async def _load(tx: CommandTransaction, program_id: str) -> tuple[Program, int]:
    loaded = await tx.load(program_stream(program_id), programs.evolve)
    if loaded.state is None:
        raise ProgramNotFoundError(program_id)
    return loaded.state, loaded.version


@dataclass(frozen=True, slots=True)
class ProgramUpdate:
    program: Program
    # The waitlist's moves into places the change opened (a raised or removed cap).
    promotions: Promotions = waitlist.NONE


def update_program(program_id: str, changes: Mapping[str, Any]) -> UseCase[ProgramUpdate]:
    """Apply a partial change (top-level settings fields; nested objects are replaced).

    A change that leaves mentee places free in a program with automatic approval (a
    raised or removed ``max_mentees``, automatic approval switched on) fills them from
    the waitlist in the same transaction, under the program's current (new) rules.
    """

    async def use_case(tx: CommandTransaction) -> ProgramUpdate:
        state, version = await _load(tx, program_id)
        try:
            settings = ProgramSettings.model_validate({**state.settings.model_dump(), **changes})
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(part) for part in first["loc"]) or "body"
            raise InvalidInputError(field, first["msg"]) from exc
        events = programs.update_program(state, settings)
        after = folded(state, events, programs.evolve)
        decisions: list[waitlist.Decision] = []
        promotions = waitlist.NONE
        if events:
            decisions, promotions = await waitlist.decide_promotions(tx, program_id, program=after)
        async with QUERIES.deferred(tx.conn):
            await tx.append(program_stream(program_id), events, expected_version=version)
            if decisions:
                await tx.append_many(decisions)
        return ProgramUpdate(after, promotions)

    return use_case


def _transition(
    program_id: str, decide: Callable[[Program, date], list[EventContract]], name: str
) -> UseCase[Program]:
    async def use_case(tx: CommandTransaction) -> Program:
        state, version = await _load(tx, program_id)
        events = decide(state, today())
        await tx.append(program_stream(program_id), events, expected_version=version)
        if events:
            log.info("program.status_changed", program_id=program_id, change=name)
        return folded(state, events, programs.evolve)

    return use_case


def open_program(program_id: str) -> UseCase[Program]:
    return _transition(program_id, programs.open_program, "opened")


def close_program(program_id: str) -> UseCase[Program]:
    return _transition(program_id, programs.close_program, "closed")


def archive_program(program_id: str) -> UseCase[Program]:
    return _transition(program_id, lambda state, _: programs.archive_program(state), "archived")
