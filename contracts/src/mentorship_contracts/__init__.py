"""Shared contracts of the mentorship platform: every event and the envelope they travel in."""

from mentorship_contracts.base import (
    SUBJECT_PREFIX,
    EventContract,
    EventRegistry,
    UnknownEventTypeError,
    registry,
)
from mentorship_contracts.envelope import CloudEvent

__all__ = [
    "SUBJECT_PREFIX",
    "CloudEvent",
    "EventContract",
    "EventRegistry",
    "UnknownEventTypeError",
    "registry",
]
