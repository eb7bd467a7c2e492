"""The enrollment service as a real process: uvicorn on a free port, stopped afterwards."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from mentorship_kit.testing import free_port, wait_until


def _command(port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "enrollment.main:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
    ]


def _environment(database_url: str, nats_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "NATS_URL": nats_url,
        "DEV_MODE": "true",
        "LOG_LEVEL": "WARNING",
        "SHUTDOWN_TIMEOUT_SECONDS": "5",
    }


@asynccontextmanager
async def uvicorn_service(
    database_url: str, nats_url: str, log_dir: Path, *, startup_timeout: float = 120.0
) -> AsyncIterator[str]:
    """Run ``enrollment.main:create_app`` under uvicorn; yields its base URL once ready."""
    port = free_port()
    log_path = log_dir / f"enrollment-{port}.log"
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            *_command(port),
            env=_environment(database_url, nats_url),
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=2.0) as client:

            async def ready() -> bool:
                if process.returncode is not None:
                    raise RuntimeError(f"uvicorn exited: {log_path.read_text()[-2000:]}")
                try:
                    return (await client.get("/readyz")).status_code == 200
                except httpx.TransportError:
                    return False

            await wait_until(ready, timeout=startup_timeout, message="the service ready")
        yield base_url
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 20)
            except TimeoutError:
                process.kill()
                await process.wait()
