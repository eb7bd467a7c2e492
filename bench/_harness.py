"""What the HTTP benchmarks share: service processes, a thin HTTP client, figures.

Not a benchmark itself (``make bench`` skips files starting with ``_``). The scripts
beside it import it as ``_harness``: ``python bench/<script>.py`` puts ``bench/`` first
on the import path.

- :func:`start_service` runs one service (``<name>.main:create_app``) under uvicorn on a
  free loopback port (the kit's ``ServiceProcess``), configured only through the
  environment as in production, and returns once its ``/readyz`` answers 200;
- :class:`Connection` is one keep-alive HTTP/1.1 connection and :class:`ConnectionPool`
  a bounded set of them: a client thin enough not to be the bottleneck (httpx costs a
  few times the CPU per request, which on a two-core machine is taken from the servers);
- :func:`closed_loop`, :func:`percentile`, :func:`cpu_seconds`, :func:`load_average`:
  how the scripts drive load and report it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Final

import httpx
import structlog

from mentorship_kit.auth import issue_dev_token
from mentorship_kit.settings import DEFAULT_DEV_SECRET
from mentorship_kit.testing import ServiceProcess, free_port

REPO: Final = Path(__file__).resolve().parents[1]
READY_TIMEOUT_S: Final = 60.0
STOP_TIMEOUT_S: Final = 30.0


def token(role: str, sub: str | None = None) -> str:
    """A dev bearer token (HS256 with the dev secret the services accept in dev mode)."""
    return issue_dev_token(DEFAULT_DEV_SECRET, role=role, sub=sub)


def add_database_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="the PostgreSQL server the temporary databases are created on",
    )


def logs_to_stderr() -> None:
    """stdout carries the JSON answer only: the kit's logs (warnings and worse) go to stderr."""
    structlog.configure(
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
    )


# -- HTTP client ----------------------------------------------------------------------


class Connection:
    """One keep-alive HTTP/1.1 connection: a client thin enough not to be the bottleneck."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        # False once the server said ``Connection: close`` or the exchange broke.
        self.reusable = True

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    async def request(
        self,
        method: str,
        path: str,
        *,
        token: str,
        body: bytes | None = None,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, bytes]:
        """Send one request and read the whole answer: (status, body)."""
        assert self.reader is not None  # noqa: S101 - opened first
        assert self.writer is not None  # noqa: S101 - opened first
        lines = [f"{method} {path} HTTP/1.1", "Host: bench", f"Authorization: Bearer {token}"]
        if body is not None:
            lines += [f"Content-Type: {content_type}", f"Content-Length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b""))
        self.reusable = False  # until the answer was read whole
        status_line = await self.reader.readline()
        if not status_line:
            msg = f"the server on port {self.port} closed the connection"
            raise ConnectionError(msg)
        length = 0
        keep_alive = True
        while (line := await self.reader.readline()) not in {b"\r\n", b""}:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                keep_alive = False
            elif name == b"transfer-encoding":
                msg = f"{method} {path}: chunked answers are not read by this client"
                raise ValueError(msg)
        answer = await self.reader.readexactly(length)
        self.reusable = keep_alive
        return int(status_line.split()[1]), answer

    async def post(self, path: str, body: bytes, token: str) -> tuple[int, bytes]:
        return await self.request("POST", path, token=token, body=body)

    async def close(self) -> None:
        self.reusable = False
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(ConnectionError):
                await self.writer.wait_closed()


class ConnectionPool:
    """At most ``limit`` connections to one server, opened on demand and reused.

    A request beyond the limit waits for a free connection, so with an open-loop load
    the wait is part of the latency measured from the request's scheduled time.
    """

    def __init__(self, port: int, limit: int) -> None:
        self.port = port
        self._slots = asyncio.Semaphore(limit)
        self._idle: list[Connection] = []
        self.opened = 0

    async def request(
        self,
        method: str,
        path: str,
        *,
        token: str,
        body: bytes | None = None,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, bytes]:
        async with self._slots:
            if self._idle:
                connection = self._idle.pop()
            else:
                connection = Connection(self.port)
                await connection.open()
                self.opened += 1
            try:
                answer = await connection.request(
                    method, path, token=token, body=body, content_type=content_type,
                    headers=headers,
                )  # fmt: skip
            finally:
                if connection.reusable:
                    self._idle.append(connection)
                else:
                    await connection.close()
            return answer

    async def close(self) -> None:
        while self._idle:
            await self._idle.pop().close()


# -- figures ---------------------------------------------------------------------------


def percentile(values: list[float], quantile: float) -> float:
    """The nearest-rank quantile of ``values``, rounded to 0.01."""
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * quantile))], 2)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process and its live children used so far (Linux /proc).

    The children are uvicorn's workers when it runs more than one.
    """
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return own + sum(cpu_seconds(int(child)) for child in children)


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU time of the whole machine so far, in clock ticks (/proc/stat):
    the busy share between two readings is what every process together used."""
    ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    total = sum(ticks[:8])  # guest time is already counted in user time
    return total - idle, total


def load_average() -> float:
    """The 1-minute load average: how much of the shared machine the figures had."""
    return round(os.getloadavg()[0], 2)


async def closed_loop(
    seconds: float, workers: list[Callable[[], Awaitable[bool]]]
) -> tuple[float, list[float], int]:
    """Each worker repeats its operation for ``seconds``: (ops/s, latencies ms, errors)."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def loop(op: Callable[[], Awaitable[bool]]) -> None:
        nonlocal errors
        while (started := time.perf_counter()) < deadline:
            ok = await op()
            latencies.append((time.perf_counter() - started) * 1000)
            errors += 0 if ok else 1

    started = time.perf_counter()
    await asyncio.gather(*(loop(op) for op in workers))
    return len(latencies) / (time.perf_counter() - started), latencies, errors


async def open_loop(
    rate: float, seconds: float, op: Callable[[], Awaitable[bool]]
) -> tuple[float, list[float], int]:
    """``op`` started ``rate`` times a second for ``seconds``, whatever happened to the ones
    before it: (completed ops/s, latencies ms, errors).

    A latency runs from the moment the operation was due, not from when it could be
    sent, so time spent queueing behind a slow server counts (no coordinated omission).
    This is how "N per second with a p99 of M ms" is measured: a closed loop's latency
    at saturation is only its number of clients divided by the rate.
    """
    latencies: list[float] = []
    errors = 0
    in_flight: set[asyncio.Task[None]] = set()

    async def one(due: float) -> None:
        nonlocal errors
        ok = await op()
        latencies.append((time.perf_counter() - due) * 1000)
        errors += 0 if ok else 1

    start = time.perf_counter() + 0.01
    for k in range(int(rate * seconds)):
        due = start + k / rate
        if (delay := due - time.perf_counter()) > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(due))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    await asyncio.gather(*in_flight)
    return len(latencies) / (time.perf_counter() - start), latencies, errors


# -- service processes -----------------------------------------------------------------


async def start_service(
    name: str,
    *,
    database_url: str,
    nats_url: str,
    log_path: Path,
    workers: int = 1,
    env: Mapping[str, str] | None = None,
    port: int | None = None,
) -> ServiceProcess:
    """Run ``<name>.main:create_app`` under uvicorn (the kit's :class:`ServiceProcess`);
    return once ``/readyz`` answers 200.

    ``port``: a free one when not given (given when other services must know the URL
    beforehand). Logs (warnings and worse by default; ``LOG_LEVEL`` overrides) go to
    ``log_path``. Stop it with :func:`stop_service`.
    """
    service = ServiceProcess(
        f"{name}.main:create_app",
        port or free_port(),
        {
            "DATABASE_URL": database_url,
            "NATS_URL": nats_url,
            "DEV_MODE": "true",
            "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING"),
            **(env or {}),
        },
        log_path,
        # Connections left idle while a floor is measured must stay open.
        uvicorn_args=(
            *("--log-level", "warning", "--workers", str(workers)),
            *("--timeout-keep-alive", "120"),
        ),
        # Not bench/: its scripts are named like the service packages.
        cwd=REPO,
    )
    service.start()
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            await service.ready(client, timeout=READY_TIMEOUT_S)
    except BaseException:
        await stop_service(service)
        raise
    return service


async def stop_service(service: ServiceProcess) -> None:
    """SIGTERM (a graceful shutdown: in-flight requests finish, NATS drains), then
    SIGKILL after STOP_TIMEOUT_S; off the event loop, which keeps serving meanwhile."""
    await asyncio.to_thread(service.stop, timeout=STOP_TIMEOUT_S)


def service_pid(service: ServiceProcess) -> int:
    assert service.process is not None  # noqa: S101 - started by start_service
    return service.process.pid


LoopResult = tuple[float, list[float], int]  # (ops/s, latencies ms, errors)
Loop = Callable[[float], Awaitable[LoopResult]]


Client = Connection | ConnectionPool
Request = Callable[[Client], Awaitable[bool]]


async def saturate(port: int, clients: int, seconds: float, op: Request) -> LoopResult:
    """``op`` in a closed loop on ``clients`` connections of their own, opened for the
    round (uvicorn closes keep-alive connections left idle for more than five seconds)."""
    connections = [Connection(port) for _ in range(clients)]
    for connection in connections:
        await connection.open()

    def on(connection: Connection) -> Callable[[], Awaitable[bool]]:
        return lambda: op(connection)

    try:
        return await closed_loop(seconds, [on(c) for c in connections])
    finally:
        for connection in connections:
            await connection.close()


async def offer(
    port: int, connections: int, rate: float, seconds: float, op: Request
) -> LoopResult:
    """``op`` offered ``rate`` times a second (:func:`open_loop`) over a pool of at most
    ``connections`` keep-alive connections."""
    pool = ConnectionPool(port, connections)
    try:
        return await open_loop(rate, seconds, lambda: op(pool))
    finally:
        await pool.close()


async def offered_and_saturated(
    args: argparse.Namespace, *, port: int, pid: int, request: Request, floor: Loop
) -> dict[str, Any]:
    """Warm up with a closed loop, then alternate, ``args.rounds`` times: ``request``
    offered open loop at ``args.rate`` (over at most ``args.connections`` connections),
    the same in a closed loop of ``args.concurrency`` clients, and the ``floor``,
    ``args.seconds / args.rounds`` each, so that all three see the same machine noise.
    Figures without a prefix; the caller names them.
    """
    seconds = args.seconds / args.rounds
    await saturate(port, args.concurrency, args.warmup, request)
    offered: list[float] = []
    offered_latencies: list[float] = []
    saturated: list[float] = []
    saturated_latencies: list[float] = []
    floors: list[float] = []
    floor_latencies: list[float] = []
    errors = 0
    server_cpu = 0.0
    for _ in range(args.rounds):
        cpu_before = cpu_seconds(pid)
        rate, latencies, round_errors = await offer(
            port, args.connections, args.rate, seconds, request
        )
        offered.append(rate)
        offered_latencies += latencies
        errors += round_errors
        rate, latencies, round_errors = await saturate(port, args.concurrency, seconds, request)
        saturated.append(rate)
        saturated_latencies += latencies
        errors += round_errors
        server_cpu += cpu_seconds(pid) - cpu_before
        rate, latencies, _ = await floor(seconds)
        floors.append(rate)
        floor_latencies += latencies
    done = len(offered_latencies) + len(saturated_latencies)
    return {
        "per_s": round(statistics.mean(offered)),
        "p50_ms": percentile(offered_latencies, 0.50),
        "p99_ms": percentile(offered_latencies, 0.99),
        "max_per_s": round(statistics.mean(saturated)),
        "saturated_p50_ms": percentile(saturated_latencies, 0.50),
        "saturated_p99_ms": percentile(saturated_latencies, 0.99),
        "requests": done,
        "errors": errors,
        # CPU the service's processes spent per request (HTTP, database, relay).
        "server_cpu_ms": round(server_cpu * 1000 / max(1, done), 2),
        "floor_per_s": round(statistics.mean(floors)),
        "floor_p99_ms": percentile(floor_latencies, 0.99),
    }
