"""Errors of the event store, free of any HTTP meaning."""

from __future__ import annotations


class ConcurrencyConflictError(Exception):
    """The stream moved on since it was read: another writer appended first."""

    def __init__(self, stream_id: str, expected: object, actual: int | None = None) -> None:
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual
        detail = f"stream {stream_id!r} expected at version {expected}"
        if actual is not None:
            detail += f" but is at {actual}"
        super().__init__(detail)


class DuplicateEventError(Exception):
    """An event id was reused for a different event than the one already stored."""
