"""What the consumers listed, done: pairs and mentor requests closed because a member
left the program or the organisation, or a fit check failed (see adapters/work.py).

Each listed command runs as its own command-runner transaction: load the stream,
decide, append with event ids derived from the command (a repeat appends nothing),
and strike the command off the list in the same transaction.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from matching.adapters import work
from matching.adapters.work import SystemCommand
from matching.application.outcome import Outcome, outcome
from matching.application.requests import available_choices
from matching.domain import pairs, requests
from mentorship_contracts import EventContract
from mentorship_contracts.matching import SystemDeclineReason
from mentorship_kit.commands import CommandTransaction, UseCase
from mentorship_kit.eventstore import EventMetadata

SYSTEM_ROLE = "system"


def _event_ids(command: SystemCommand, events: list[EventContract]) -> list[uuid.UUID]:
    base = uuid.UUID(command.command_id)
    return [uuid.uuid5(base, str(index)) for index in range(len(events))]


def close(command: SystemCommand, *, now: datetime, ttl: timedelta) -> UseCase[Outcome[bool]]:
    """Apply one listed command; True when it changed anything."""

    async def use_case(tx: CommandTransaction) -> Outcome[bool]:
        events: list[EventContract]
        if command.kind == "pair":
            stream = pairs.stream_id(command.target_id)
            loaded = await tx.load(stream, pairs.evolve)
            if command.reason == "failed_fit":
                events = pairs.failed_fit(loaded.state, command.employee_id, command.occurred_on)
            else:
                events = pairs.member_left(
                    loaded.state, command.employee_id, command.reason, command.occurred_on
                )
            version = loaded.version
        else:
            stream = requests.stream_id(command.target_id)
            loaded_request = await tx.load(stream, requests.evolve)
            state = loaded_request.state
            reason: SystemDeclineReason = (
                "departure" if command.reason == "departure" else "withdrawal"
            )
            available = (
                await available_choices(tx.conn, state) if state is not None else frozenset()
            )
            events = requests.member_left(
                state, command.employee_id, reason, available=available, now=now, ttl=ttl
            )
            version = loaded_request.version
        await tx.append(
            stream, events, expected_version=version, event_ids=_event_ids(command, events)
        )
        await work.done(tx.conn, command.command_id)
        return outcome(tx, bool(events))

    return use_case


def metadata_of(command: SystemCommand) -> EventMetadata:
    """The closure is caused by the source event and done on behalf of its actor."""
    return EventMetadata(
        correlation_id=command.correlation_id,
        causation_id=command.source_event_id,
        actor=command.actor,
        actor_role=SYSTEM_ROLE,
    )
