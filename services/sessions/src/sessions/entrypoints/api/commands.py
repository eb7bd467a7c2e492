"""Running a use case for an endpoint, and noticing what it did (for metrics and logs).

A replayed answer (same Idempotency-Key) did nothing new: it is neither counted nor
logged again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from fastapi.responses import Response
from pydantic import BaseModel

from mentorship_kit.commands import UseCase
from mentorship_kit.endpoints import CommandEndpoint

T = TypeVar("T")


class Executed(Generic[T]):
    """The HTTP answer, and the use case's result when it ran now (None on a replay)."""

    def __init__(self, response: Response, result: T | None) -> None:
        self.response = response
        self.result = result


async def execute(
    command: CommandEndpoint,
    use_case: UseCase[T],
    present: Callable[[T], BaseModel],
    *,
    status_code: int = 200,
) -> Executed[T]:
    seen: list[T] = []

    def remember(result: T) -> BaseModel:
        seen.append(result)
        return present(result)

    response: Response = await command.execute(use_case, present=remember, status_code=status_code)
    return Executed(response, seen[-1] if seen else None)
