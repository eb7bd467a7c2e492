"""Small helpers for tests and local tooling."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, date, datetime
from typing import TypeVar, overload

T = TypeVar("T")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def utc_days() -> Iterator[set[date]]:
    """The UTC dates seen while the block ran: one, or two when it crossed midnight.

    A service that stamps "today" on what it does inside the block used one of them,
    so ``assert answer["closed_on"] in {str(day) for day in days}`` holds whenever the
    test runs, where a date taken once (let alone at import) fails at midnight.
    """
    days = {datetime.now(UTC).date()}
    try:
        yield days
    finally:
        days.add(datetime.now(UTC).date())


@overload
async def wait_until(
    condition: Callable[[], Awaitable[T]],
    *,
    timeout: float = ...,  # noqa: ASYNC109 - see below
    interval: float = ...,
    message: str = ...,
) -> T: ...


@overload
async def wait_until(
    condition: Callable[[], T],
    *,
    timeout: float = ...,  # noqa: ASYNC109 - see below
    interval: float = ...,
    message: str = ...,
) -> T: ...


async def wait_until(
    condition: Callable[[], T | Awaitable[T]],
    *,
    timeout: float = 30.0,  # noqa: ASYNC109 - a polling deadline, not one awaitable's
    interval: float = 0.02,
    message: str = "condition",
) -> T:
    """Poll ``condition`` until it returns a truthy value; TimeoutError at the deadline.

    The default deadline is generous on purpose: polling returns as soon as the
    condition holds, so a long deadline costs nothing when things go well, while a
    short one fails tests on a loaded 2-core CI machine that are merely slow.
    """
    deadline = time.monotonic() + timeout
    last: T | None = None
    while True:
        result = condition()
        last = await result if inspect.isawaitable(result) else result
        if last:
            return last
        if time.monotonic() >= deadline:
            msg = f"{message} not reached within {timeout}s (last value: {last!r})"
            raise TimeoutError(msg)
        await asyncio.sleep(interval)
