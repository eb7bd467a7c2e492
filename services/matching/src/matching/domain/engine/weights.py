"""The scored attributes, their default weights and the validation of admin weights."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from matching.domain.engine.errors import InvalidWeightError, UnknownAttributeError

if TYPE_CHECKING:
    from collections.abc import Mapping

# Canonical order: explanations list factors in this order and scores are summed in it,
# which is what makes a stored score reproducible bit for bit.
FACTORS: tuple[str, ...] = (
    "skills",
    "goals",
    "interests",
    "languages",
    "timezone",
    "department",
    "seniority",
)

# Skills carry most signal (what the mentee came for), then goals; the rest refine.
DEFAULT_WEIGHTS: Mapping[str, float] = {
    "skills": 3.0,
    "goals": 2.0,
    "interests": 1.0,
    "languages": 1.0,
    "timezone": 1.0,
    "department": 0.5,
    "seniority": 1.0,
}

MUST_HAVE = "must_have"


def check_attribute(attribute: str) -> None:
    if attribute not in DEFAULT_WEIGHTS:
        raise UnknownAttributeError(attribute, FACTORS)


def resolve_weights(weights: Mapping[str, float]) -> dict[str, float]:
    """Defaults overridden by the admin's weights, in canonical order."""
    for attribute, weight in weights.items():
        check_attribute(attribute)
        if isinstance(weight, bool) or not isinstance(weight, int | float):
            raise InvalidWeightError(attribute, weight)
        if not math.isfinite(weight):
            raise InvalidWeightError(attribute, weight)
    return {name: float(weights.get(name, DEFAULT_WEIGHTS[name])) for name in FACTORS}


def parse_weights(raw: Mapping[str, object]) -> tuple[dict[str, float], frozenset[str]]:
    """Split API-style weights into numbers and must-haves.

    A value is a number (the weight) or the string ``"must_have"`` (a filter: the
    factor must be positive; the attribute keeps its default weight).
    """
    weights: dict[str, float] = {}
    must_have: set[str] = set()
    for attribute, value in raw.items():
        check_attribute(attribute)
        if value == MUST_HAVE:
            must_have.add(attribute)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            weights[attribute] = float(value)
        else:
            raise InvalidWeightError(attribute, value)
    resolve_weights(weights)
    return weights, frozenset(must_have)
