"""Sessions benchmark: logging held sessions over HTTP, beside the raw database floor.

Prints one JSON object:

- log_per_s, log_p50_ms, log_p99_ms: concurrent ``POST /v1/pairs/{id}/sessions``
  (status held, topics and notes) against the sessions service run by uvicorn on a free
  port, PostgreSQL (a database created and dropped here) and a nats-server (the relay
  publishes every event meanwhile), over keep-alive connections, ``--concurrency`` at a
  time, to ``--pairs`` seeded active pairs;
- server_cpu_ms_per_log: CPU the service's processes spent per logged session (HTTP,
  database access, relay), which says what the machine's load leaves of the rate;
- floor_per_s, floor_p99_ms: plain asyncpg INSERT + COMMIT of one row at the same
  concurrency, in the same run (rounds alternate so both see the same machine noise).

Targets: log_per_s >= 500 with log_p99_ms <= 50.

    python bench/sessions.py [--database-url postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from _harness import (
    Connection,
    add_database_argument,
    closed_loop,
    cpu_seconds,
    percentile,
    service_pid,
    start_service,
    stop_service,
    token,
)

from mentorship_kit.testing import NatsServer, temporary_postgres_database
from mentorship_kit.testing.postgres import asyncpg_dsn

PROGRAM_ID = "bench-program"


async def _seed(pool: asyncpg.Pool, count: int) -> list[tuple[str, str]]:
    """Active pairs of one program in the service's registry: (pair_id, member's token).

    Written straight into the registry tables (this script is itself named ``sessions``,
    so it talks SQL rather than importing the service).
    """
    today = datetime.now(UTC).date()
    await pool.execute(
        "INSERT INTO programs (program_id, starts_on, ends_on, cadence_days)"
        " VALUES ($1, $2, $3, 14)",
        PROGRAM_ID,
        today - timedelta(days=365),
        today + timedelta(days=365),
    )
    await pool.executemany(
        "INSERT INTO pairs (pair_id, program_id, mentor_id, mentee_id, status, formed_on)"
        " VALUES ($1, $2, $3, $4, 'active', $5)",
        [
            (f"bench-pair-{n}", PROGRAM_ID, f"bench-mentor-{n}", f"bench-mentee-{n}",
             today - timedelta(days=30))
            for n in range(count)
        ],
    )  # fmt: skip
    return [
        (
            f"bench-pair-{n}",
            token("participant", sub=f"bench-mentee-{n}"),
        )
        for n in range(count)
    ]


def _body(today: date) -> bytes:
    return orjson.dumps(
        {
            "status": "held",
            "held_on": str(today - timedelta(days=random.randint(0, 20))),
            "duration_minutes": random.choice([30, 45, 60]),
            "mode": "video",
            "topics": ["career", "feedback"],
            "notes": "Discussed the upcoming review and a stretch project.",
        }
    )


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    async with temporary_postgres_database(args.database_url, prefix="sessbench") as url:
        with NatsServer() as nats_server:
            # Kept after the run: the service's own log, for when something went wrong.
            service = await start_service(
                "sessions",
                database_url=url,
                nats_url=nats_server.url,
                log_path=Path(tempfile.gettempdir()) / f"sessions-bench-{os.getpid()}.log",
                workers=args.workers,
            )
            try:
                return await _measure(args, url, service.port, service_pid(service))
            finally:
                await stop_service(service)


def _logger(
    connection: Connection, seeded: list[tuple[str, str]], today: date
) -> Callable[[], Awaitable[bool]]:
    async def log_one() -> bool:
        pair_id, bearer = random.choice(seeded)
        status, _ = await connection.post(f"/v1/pairs/{pair_id}/sessions", _body(today), bearer)
        return status == 201

    return log_one


async def _measure(args: argparse.Namespace, url: str, port: int, pid: int) -> dict[str, Any]:
    pool = await asyncpg.create_pool(
        asyncpg_dsn(url), min_size=args.concurrency, max_size=args.concurrency
    )
    seeded = await _seed(pool, args.pairs)
    today = datetime.now(UTC).date()

    async def log_for(seconds: float) -> tuple[float, list[float], int]:
        # Fresh connections per round: uvicorn closes keep-alive connections left idle
        # (while the floor runs) for more than five seconds.
        connections = [Connection(port) for _ in range(args.concurrency)]
        for connection in connections:
            await connection.open()
        try:
            return await closed_loop(seconds, [_logger(c, seeded, today) for c in connections])
        finally:
            for connection in connections:
                await connection.close()

    await pool.execute(
        "CREATE TABLE floor_sessions (session_id uuid PRIMARY KEY, pair_id text NOT NULL,"
        " held_on date NOT NULL, duration_minutes int NOT NULL, notes text)"
    )

    async def floor_one() -> bool:
        await pool.execute(
            "INSERT INTO floor_sessions VALUES ($1, $2, $3, $4, $5)",
            uuid.uuid4(),
            random.choice(seeded)[0],
            today,
            45,
            "Discussed the upcoming review and a stretch project.",
        )
        return True

    await log_for(args.warmup)
    logs: list[float] = []
    log_latencies: list[float] = []
    errors = 0
    floors: list[float] = []
    floor_latencies: list[float] = []
    per_round = args.seconds / args.rounds
    server_cpu = 0.0
    for _ in range(args.rounds):
        cpu_before = cpu_seconds(pid)
        rate, latencies, round_errors = await log_for(per_round)
        server_cpu += cpu_seconds(pid) - cpu_before
        logs.append(rate)
        log_latencies += latencies
        errors += round_errors
        rate, latencies, _ = await closed_loop(per_round, [floor_one] * args.concurrency)
        floors.append(rate)
        floor_latencies += latencies
    await pool.close()
    log_rate, floor_rate = statistics.mean(logs), statistics.mean(floors)
    return {
        "log_per_s": round(log_rate),
        "log_p50_ms": percentile(log_latencies, 0.50),
        "log_p99_ms": percentile(log_latencies, 0.99),
        "log_requests": len(log_latencies),
        "log_errors": errors,
        # CPU the service process spent per logged session (HTTP, database, relay).
        "server_cpu_ms_per_log": round(server_cpu * 1000 / max(1, len(log_latencies)), 2),
        "floor_per_s": round(floor_rate),
        "floor_p99_ms": percentile(floor_latencies, 0.99),
        "log_to_floor_ratio": round(log_rate / floor_rate, 3),
        "concurrency": args.concurrency,
        "workers": args.workers,
        "pairs": args.pairs,
        "seconds": args.seconds,
        "targets": {"log_per_s": 500, "log_p99_ms": 50},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_database_argument(parser)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--warmup", type=float, default=3.0)
    print(json.dumps(asyncio.run(bench(parser.parse_args()))))


if __name__ == "__main__":
    main()
