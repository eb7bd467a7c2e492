"""Enrollment benchmark: the directory import and applications over HTTP, beside the raw floor.

Prints one JSON object:

- batch_import_per_s: 100,000 employees through ``POST /v1/employees/batch`` in batches
  of 10,000 (``--batch-concurrency`` in flight, each committed with its events and
  query rows) against the enrollment service run by uvicorn with ``--workers``
  processes (default 2: one per core of the 2-core machine the targets are set for) on
  a free port, PostgreSQL (a database created and dropped here) and a nats-server (the
  relay publishes every event meanwhile);
- relay_backlog_seconds_after_import, relay_cpu_ms_per_event: how long the outbox relay
  still needed, after the last batch was committed, to publish the import to JetStream
  (applications are measured once it has), and the service's CPU per event meanwhile;
- batch_floor_per_s: plain asyncpg ``executemany`` INSERTs of the same rows (the record
  as JSONB) in the same batches, each committed, in the same run;
- enroll_per_s, enroll_p50_ms, enroll_p99_ms: ``POST /v1/programs/{id}/enrollments``
  (auto approval: each request decides and enrolls; distinct employees) offered at
  ``--rate`` per second (default 525: a little above the 500 of the target, so that
  the rate sustained shows it and not the offer's own cap), open loop (request k is due
  at start + k / rate and sent then, over up to ``--connections`` keep-alive
  connections), latency counted from when each request was due: the rate the service
  sustained and the latency callers saw at it;
- enroll_max_per_s, enroll_saturated_p50_ms, enroll_saturated_p99_ms: the same requests
  in a closed loop, ``--concurrency`` at a time (the most the service does; a closed
  loop's latency at saturation is its client count divided by that rate);
- enroll_floor_per_s, enroll_floor_p99_ms: plain asyncpg INSERT + COMMIT of one row,
  closed loop at ``--concurrency`` (rounds alternate so all see the same machine noise).

``--skip-enroll`` leaves the applications out (to iterate on the import alone).

Targets: batch_import_per_s >= 10,000; enroll_per_s >= 500 with enroll_p99_ms <= 50.

    python bench/enrollment.py [--database-url postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import nats
import orjson
from _harness import (
    Client,
    Connection,
    add_database_argument,
    closed_loop,
    cpu_seconds,
    offered_and_saturated,
    service_pid,
    start_service,
    stop_service,
    token,
)

from mentorship_kit.testing import NatsServer, temporary_postgres_database
from mentorship_kit.testing.postgres import asyncpg_dsn

DEPARTMENTS = ("Engineering", "Sales", "Finance", "Operations", "Legal")
HRIS_TOKEN = token("hris")
ADMIN_TOKEN = token("admin")


def _employee(index: int) -> dict[str, Any]:
    hired = datetime.now(UTC).date() - timedelta(days=100 + index % 3000)
    return {
        "employee_id": f"bench-{index:06d}",
        "email": f"employee{index}@example.com",
        "given_name": f"Given{index}",
        "family_name": f"Family{index}",
        "department": DEPARTMENTS[index % len(DEPARTMENTS)],
        "title": "Engineer",
        "job_level": 1 + index % 8,
        "manager_id": f"bench-{index // 10:06d}",
        "location": "Lyon",
        "timezone": "Europe/Paris",
        "languages": ["en", "fr"],
        "hired_on": hired.isoformat(),
    }


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    async with temporary_postgres_database(args.database_url, prefix="bench_enrollment") as url:
        with NatsServer() as nats_server:
            service = await start_service(
                "enrollment",
                database_url=url,
                nats_url=nats_server.url,
                log_path=nats_server.store_dir / "enrollment.log",
                workers=args.workers,
            )
            port, pid = service.port, service_pid(service)
            try:
                pool = await asyncpg.create_pool(
                    asyncpg_dsn(url), min_size=args.concurrency, max_size=args.concurrency
                )
                try:
                    result = await _batch_import(args, port, pid)
                    result |= await _relay_catch_up(pool, nats_server.url, pid)
                    result |= await _batch_floor(args, pool)
                    if not args.skip_enroll:
                        result |= await _enroll(args, port, pool, pid)
                finally:
                    await pool.close()
            finally:
                await stop_service(service)
    return result | {"targets": {"batch_import_per_s": 10_000, "enroll_per_s": 500,
                                 "enroll_p99_ms": 50}}  # fmt: skip


def _batches(total: int, size: int) -> Iterator[list[dict[str, Any]]]:
    indexes = iter(range(total))
    while batch := list(itertools.islice(indexes, size)):
        yield [_employee(index) for index in batch]


async def _batch_import(args: argparse.Namespace, port: int, pid: int) -> dict[str, Any]:
    bodies = iter(
        [orjson.dumps({"employees": batch}) for batch in _batches(args.employees, 10_000)]
    )
    connections = [Connection(port) for _ in range(args.batch_concurrency)]
    for connection in connections:
        await connection.open()
    seconds: list[float] = []
    created = 0

    async def send_batches(connection: Connection) -> None:
        nonlocal created
        for body in bodies:
            batch_started = time.perf_counter()
            status, answer = await connection.post("/v1/employees/batch", body, HRIS_TOKEN)
            seconds.append(time.perf_counter() - batch_started)
            if status != 200:
                msg = f"batch import answered {status}: {answer[:500]!r}"
                raise RuntimeError(msg)
            results = orjson.loads(answer)["results"]
            created += sum(1 for r in results if r["status"] == "created")

    cpu_before = cpu_seconds(pid)
    started = time.perf_counter()
    await asyncio.gather(*(send_batches(connection) for connection in connections))
    elapsed = time.perf_counter() - started
    cpu = cpu_seconds(pid) - cpu_before
    for connection in connections:
        await connection.close()
    if created != args.employees:
        msg = f"only {created} of {args.employees} employees were created"
        raise RuntimeError(msg)
    return {
        "batch_import_per_s": round(args.employees / elapsed),
        "batch_import_seconds": round(elapsed, 2),
        "batch_seconds_max": round(max(seconds), 2),
        "server_cpu_ms_per_employee": round(cpu * 1000 / args.employees, 3),
        "employees": args.employees,
        "batch_concurrency": args.batch_concurrency,
    }


async def _relay_catch_up(pool: asyncpg.Pool, nats_url: str, pid: int) -> dict[str, Any]:
    """Wait until the relay published the import (applications are measured after it).

    Nothing else runs meanwhile, so the service's CPU per event published in that time
    is what the outbox relay costs.
    """
    started = time.perf_counter()
    cpu_before = cpu_seconds(pid)
    stored = await pool.fetchval("SELECT count(*) FROM events")
    client = await nats.connect(nats_url)
    try:
        js = client.jetstream()
        stream = "MENTORSHIP_ENROLLMENT"
        published_before = (await js.stream_info(stream)).state.messages
        while (published := (await js.stream_info(stream)).state.messages) < stored:
            if time.perf_counter() - started > 600:
                msg = "the relay did not publish the import within 10 minutes"
                raise TimeoutError(msg)
            await asyncio.sleep(0.5)
    finally:
        await client.close()
    drained = published - published_before
    cpu = cpu_seconds(pid) - cpu_before
    return {
        "relay_backlog_seconds_after_import": round(time.perf_counter() - started, 1),
        "relay_cpu_ms_per_event": round(cpu * 1000 / drained, 3) if drained else None,
    }


async def _batch_floor(args: argparse.Namespace, pool: asyncpg.Pool) -> dict[str, Any]:
    await pool.execute(
        "CREATE TABLE floor_employees (employee_id text PRIMARY KEY, record jsonb NOT NULL)"
    )
    batches = [
        [(row["employee_id"], orjson.dumps(row).decode()) for row in batch]
        for batch in _batches(args.employees, 10_000)
    ]
    started = time.perf_counter()
    async with pool.acquire() as conn:
        for batch in batches:
            async with conn.transaction():
                await conn.executemany("INSERT INTO floor_employees VALUES ($1, $2::jsonb)", batch)
    return {"batch_floor_per_s": round(args.employees / (time.perf_counter() - started))}


async def _open_program(port: int) -> str:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        created = await client.post(
            "/v1/programs",
            json={
                "name": "Bench program",
                "objective": "Measure",
                "formats": ["one_to_one", "group"],
                "tracks": ["leadership"],
                "starts_on": datetime.now(UTC).date().isoformat(),
                "cadence_days": 14,
                "mentor_capacity": 3,
                "approval": "auto",
                "eligibility": {"departments": list(DEPARTMENTS), "min_tenure_days": 30},
            },
            headers=headers,
        )
        program_id: str = created.json()["id"]
        await client.post(f"/v1/programs/{program_id}/open", headers=headers)
        return program_id


def _application(n: int) -> bytes:
    return orjson.dumps(
        {
            "employee_id": f"bench-{n:06d}",
            "role": "mentee",
            "profile": {
                "skills_sought": ["leadership", "python"],
                "goals": ["lead a team"],
                "languages": ["en"],
                "timezone": "Europe/Paris",
            },
        }
    )


async def _enroll(
    args: argparse.Namespace, port: int, pool: asyncpg.Pool, pid: int
) -> dict[str, Any]:
    program_id = await _open_program(port)
    path = f"/v1/programs/{program_id}/enrollments"
    applicants = iter(range(args.employees))

    async def apply_once(client: Client) -> bool:
        body = _application(next(applicants))
        status, _ = await client.request("POST", path, token=ADMIN_TOKEN, body=body)
        return status == 201

    await pool.execute(
        "CREATE TABLE floor_enrollments (enrollment_id uuid PRIMARY KEY, program_id text"
        " NOT NULL, employee_id text NOT NULL, role text NOT NULL, profile jsonb NOT NULL)"
    )
    profile = orjson.dumps({"skills_sought": ["leadership", "python"]}).decode()

    async def floor_once() -> bool:
        await pool.execute(
            "INSERT INTO floor_enrollments VALUES ($1, $2, $3, 'mentee', $4::jsonb)",
            uuid.uuid4(),
            program_id,
            str(uuid.uuid4()),
            profile,
        )
        return True

    async def floor(seconds: float) -> tuple[float, list[float], int]:
        return await closed_loop(seconds, [floor_once] * args.concurrency)

    figures = await offered_and_saturated(args, port=port, pid=pid, request=apply_once, floor=floor)
    return {
        **{f"enroll_{name}": value for name, value in figures.items()},
        "enroll_offered_per_s": args.rate,
        "concurrency": args.concurrency,
        "workers": args.workers,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_database_argument(parser)
    parser.add_argument("--employees", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=525.0, help="offered enrollments a second")
    parser.add_argument("--connections", type=int, default=64, help="open-loop connections (most)")
    parser.add_argument("--concurrency", type=int, default=16, help="closed-loop clients")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument(
        "--batch-concurrency", type=int, default=2, help="batches in flight at once"
    )
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument(
        "--skip-enroll",
        action="store_true",
        help="stop after the import, the relay's catch-up and the batch floor",
    )
    print(json.dumps(asyncio.run(bench(parser.parse_args()))))


if __name__ == "__main__":
    main()
