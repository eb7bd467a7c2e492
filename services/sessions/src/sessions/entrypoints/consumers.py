"""The pair registry's feeders: durable consumers of matching's pair events and
enrollment's program events (exactly-once in effect, see the kit's ConsumerRuntime)."""

from __future__ import annotations

from typing import Final

from mentorship_kit.consumer import ConsumerRuntime
from mentorship_kit.context import ServiceContext
from sessions.adapters.registry import PairRegistry, ProgramCalendars

PAIRS_CONSUMER: Final = "sessions-pairs"
PROGRAMS_CONSUMER: Final = "sessions-programs"


def pair_events(context: ServiceContext) -> ConsumerRuntime:
    """PairProposed/Formed/Declined/Ended -> the ``pairs`` table."""
    return ConsumerRuntime(
        context.engine,
        context.js,
        consumer=PAIRS_CONSUMER,
        source_service="matching",
        filter_subject="mentorship.matching.pair.>",
        handler=PairRegistry().handle,
    )


def program_events(context: ServiceContext) -> ConsumerRuntime:
    """ProgramCreated/Updated -> the ``programs`` table (dates and cadence)."""
    return ConsumerRuntime(
        context.engine,
        context.js,
        consumer=PROGRAMS_CONSUMER,
        source_service="enrollment",
        filter_subject="mentorship.enrollment.program.>",
        handler=ProgramCalendars().handle,
    )
