"""Running a use case for an endpoint, and counting what it did.

A replayed answer (same Idempotency-Key) did nothing new: it is not counted again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel

from matching.application.outcome import Outcome
from matching.metrics import count_events
from mentorship_kit.commands import CommandTransaction, UseCase
from mentorship_kit.endpoints import CommandEndpoint
from mentorship_kit.idempotency import (
    IdempotencyKeyReusedError,
    IdempotencyStore,
    request_fingerprint,
)

T = TypeVar("T")


async def execute(
    command: CommandEndpoint,
    use_case: UseCase[Outcome[T]],
    present: Callable[[T], BaseModel],
    *,
    status_code: int = 200,
) -> tuple[Any, Outcome[T] | None]:
    """The HTTP answer, and the outcome when the use case ran now (None on a replay)."""
    seen: list[Outcome[T]] = []

    def remember(result: Outcome[T]) -> BaseModel:
        seen.append(result)
        return present(result.value)

    response = await command.execute(use_case, present=remember, status_code=status_code)
    done = seen[-1] if seen else None
    if done is not None:
        count_events(list(done.events))
    return response, done


async def answered_before(command: CommandEndpoint) -> bool:
    """Whether the request's Idempotency-Key already has an answer (or was reused with
    another body): then the command endpoint replays (or refuses) without running
    anything, and work done before the command — solving a run — can be skipped."""
    key = command.idempotency_key
    if key is None:
        return False
    fingerprint = request_fingerprint(
        command.request.method, command.request.url.path, await command.request.body()
    )
    keys = IdempotencyStore(command.context.store.metadata)
    try:
        async with command.context.engine.connect() as conn:
            stored = await keys.find(
                conn, scope=command.principal.subject, key=key, fingerprint=fingerprint
            )
    except IdempotencyKeyReusedError:
        return True
    return stored is not None


async def replayed_only(tx: CommandTransaction) -> Outcome[Any]:  # noqa: ARG001 - a use case takes its transaction
    """The use case given when `answered_before` said the answer is stored: the command
    endpoint replays that answer and never calls this."""
    msg = "an answered Idempotency-Key lost its stored answer"
    raise LookupError(msg)
