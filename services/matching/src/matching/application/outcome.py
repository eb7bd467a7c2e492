"""What a use case returns: its answer, and the types of the events it appended."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from mentorship_kit.commands import CommandTransaction

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Outcome(Generic[T]):
    value: T
    events: tuple[str, ...] = ()


def outcome(tx: CommandTransaction, value: T) -> Outcome[T]:
    """`value` with every event the transaction appended (for metrics and logs)."""
    return Outcome(value, tuple(e.event_type for e in tx.appended))
