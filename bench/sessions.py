"""Sessions benchmark: logging held sessions over HTTP, beside the raw database floor.

Prints one JSON object:

- log_per_s, log_p50_ms, log_p99_ms: ``POST /v1/pairs/{id}/sessions`` (status held,
  topics and notes) offered at ``--rate`` per second (default 525: a little above the
  500 of the target, so that the rate sustained shows it and not the offer's own cap),
  open loop (request k is due at start + k / rate and sent then, over up to
  ``--connections`` keep-alive connections),
  latency counted from when each request was due: the rate the service sustained and
  the latency its callers saw at that rate. The service runs under uvicorn with
  ``--workers`` processes (default 2: one per core of the 2-core machine the targets are
  set for) on a free port, with PostgreSQL (a database created and dropped here) and a
  nats-server (the relay publishes every event meanwhile), to ``--pairs`` seeded active
  pairs;
- log_max_per_s, log_saturated_p50_ms, log_saturated_p99_ms: the same requests in a
  closed loop, ``--concurrency`` at a time (the most the service does; a closed loop's
  latency at saturation is its client count divided by that rate, so it is reported
  for what it is, not as the latency at a given rate);
- server_cpu_ms_per_log: CPU the service's processes spent per logged session (HTTP,
  database access, relay), which says what the machine's load leaves of the rate;
- floor_per_s, floor_p99_ms: plain asyncpg INSERT + COMMIT of one row, closed loop at
  ``--concurrency``, in the same run (rounds alternate so all see the same machine noise).

Targets: log_per_s >= 500 with log_p99_ms <= 50.

    python bench/sessions.py [--database-url postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from _harness import (
    Client,
    Connection,
    add_database_argument,
    closed_loop,
    offered_and_saturated,
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

    async def log_one(client: Client) -> bool:
        pair_id, bearer = random.choice(seeded)
        path = f"/v1/pairs/{pair_id}/sessions"
        status, _ = await client.request("POST", path, token=bearer, body=_body(today))
        return status == 201

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

    async def floor(seconds: float) -> tuple[float, list[float], int]:
        return await closed_loop(seconds, [floor_one] * args.concurrency)

    figures = await offered_and_saturated(args, port=port, pid=pid, request=log_one, floor=floor)
    await pool.close()
    return {
        **{
            (name if name.startswith("floor") else f"log_{name}"): value
            for name, value in figures.items()
        },
        "offered_per_s": args.rate,
        "max_to_floor_ratio": round(figures["max_per_s"] / figures["floor_per_s"], 3),
        "concurrency": args.concurrency,
        "workers": args.workers,
        "pairs": args.pairs,
        "seconds": args.seconds,
        "targets": {"log_per_s": 500, "log_p99_ms": 50},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_database_argument(parser)
    parser.add_argument("--rate", type=float, default=525.0, help="offered requests per second")
    parser.add_argument("--connections", type=int, default=64, help="open-loop connections (most)")
    parser.add_argument("--concurrency", type=int, default=16, help="closed-loop clients")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--warmup", type=float, default=3.0)
    print(json.dumps(asyncio.run(bench(parser.parse_args()))))


if __name__ == "__main__":
    main()
