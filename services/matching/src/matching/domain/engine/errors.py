"""Errors the matching engine raises on bad input.

They name the offending field and value and know nothing about HTTP; the entrypoint
layer maps every `MatchingInputError` to a 422 problem.
"""

from __future__ import annotations


class MatchingInputError(ValueError):
    """A match request or pool the engine cannot work with; `field` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class UnknownAttributeError(MatchingInputError):
    """A weight or must-have names an attribute the engine does not score."""

    def __init__(self, attribute: str, known: tuple[str, ...]) -> None:
        super().__init__(
            f"weights.{attribute}",
            f"unknown attribute {attribute!r}; known attributes: {', '.join(known)}",
        )
        self.attribute = attribute


class InvalidWeightError(MatchingInputError):
    """A weight that is not a finite number."""

    def __init__(self, attribute: str, value: object) -> None:
        super().__init__(
            f"weights.{attribute}",
            f"weight of {attribute!r} must be a finite number or 'must_have', got {value!r}",
        )
        self.attribute = attribute


class InvalidTimezoneError(MatchingInputError):
    """A candidate's timezone is neither an IANA name nor a UTC offset."""

    def __init__(self, employee_id: str, value: object) -> None:
        super().__init__(
            "timezone",
            f"timezone {value!r} of {employee_id!r} is neither an IANA name nor a UTC offset",
        )
        self.employee_id = employee_id


class DuplicateCandidateError(MatchingInputError):
    """The same employee appears twice in one side of the pool."""

    def __init__(self, employee_id: str) -> None:
        super().__init__("candidates", f"employee {employee_id!r} appears twice in the pool")
        self.employee_id = employee_id


class UnsupportedCombinationError(MatchingInputError):
    """An objective/format combination without a sound algorithm (stable peer matching)."""
