"""Small helpers for tests and local tooling."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import secrets
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TypeVar, overload

T = TypeVar("T")


# Ports are drawn from here up to the start of the kernel's ephemeral range.
_LOWEST_PORT = 20000
# Room left below the ephemeral range for a few consecutive ports (a port base).
_SPARE_PORTS = 16
_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
# Where Linux's ephemeral range starts unless configured otherwise (also below macOS's).
_LINUX_EPHEMERAL_START = 32768
# Every port free_port and free_port_base have handed out in this process: none twice.
_HANDED_OUT: set[int] = set()
_HANDED_OUT_LOCK = threading.Lock()


def _ephemeral_start() -> int | None:
    try:
        return int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _kernel_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago, below the ephemeral range.

    The kernel hands out ephemeral ports (``ip_local_port_range``) as the local end of
    every outgoing connection: a test server started, or restarted after a kill, on
    one of those could meanwhile find it taken by some client's connection (a rare
    EADDRINUSE on a busy machine). Below that range only an explicit bind takes a port.

    A port is never handed out twice in one process. Servers bind late (uvicorn only
    after its application has started), so two servers started side by side could
    otherwise both be given a port that was free when each asked, and one would fail.
    """
    start = _ephemeral_start()
    if start is None or start - _SPARE_PORTS <= _LOWEST_PORT:
        return _kernel_port()
    return _reserve(1, start) or _kernel_port()


def free_port_base(count: int) -> int:
    """A port base whose next ``count`` ports (base+1 .. base+count) are free.

    For what numbers its servers' ports from a base (``make run``: base+1 .. base+4).
    Those ports are handed out as :func:`free_port` hands out one: never twice.
    """
    if not 1 <= count <= _SPARE_PORTS:
        msg = f"count must be between 1 and {_SPARE_PORTS}"
        raise ValueError(msg)
    start = _ephemeral_start() or _LINUX_EPHEMERAL_START
    first = _reserve(count, start) if start - _SPARE_PORTS > _LOWEST_PORT else None
    if first is None:
        msg = f"no {count} consecutive free ports found below {start}"
        raise RuntimeError(msg)
    return first - 1


def _reserve(count: int, start: int) -> int | None:
    """The first of ``count`` consecutive ports below ``start``, free and now handed out."""
    for _ in range(100):
        first = _LOWEST_PORT + secrets.randbelow(start - _SPARE_PORTS - _LOWEST_PORT)
        ports = range(first, first + count)
        with _HANDED_OUT_LOCK:
            if _HANDED_OUT.intersection(ports) or not all(map(_bindable, ports)):
                continue
            _HANDED_OUT.update(ports)
            return first
    return None


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


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
