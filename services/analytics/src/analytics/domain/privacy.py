"""Small-group suppression: no figure may let someone's answer or departure be singled out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

MIN_THRESHOLD: Final = 3
DEFAULT_THRESHOLD: Final = 5


@dataclass(frozen=True, slots=True)
class Suppression:
    """Figures built from fewer than ``threshold`` people or responses are withheld."""

    threshold: int = DEFAULT_THRESHOLD

    def __post_init__(self) -> None:
        if self.threshold < MIN_THRESHOLD:
            msg = f"the suppression threshold must be at least {MIN_THRESHOLD}"
            raise ValueError(msg)

    def hides(self, count: int) -> bool:
        return count < self.threshold


def ratio(numerator: float, denominator: float, digits: int) -> float | None:
    """``numerator / denominator`` rounded, or None when there is nothing to divide by."""
    if denominator == 0:
        return None
    return round(numerator / denominator, digits)
