"""A service run the way it is deployed: uvicorn in a child process, killable with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

from mentorship_kit.testing.util import wait_until

READY = 200


class ServiceProcess:
    """``<service>.main:create_app`` served by uvicorn on ``port``, logging to ``log``.

    The child gets a session of its own, so ``kill`` (SIGKILL: no shutdown hook, no
    flush — what a crash looks like) and ``stop`` (SIGTERM: graceful) reach every
    process it started. ``start`` may be called again after either, on the same port,
    appending to the same log.
    """

    def __init__(
        self,
        app: str,
        port: int,
        env: Mapping[str, str],
        log: Path,
        *,
        uvicorn_args: Sequence[str] = (),
        cwd: Path | None = None,
    ) -> None:
        self.app, self.port, self.env, self.log = app, port, dict(env), log
        # More uvicorn options (``--workers 2``, ``--timeout-keep-alive 120``), and the
        # folder it runs in (``python -m`` imports from there first).
        self.uvicorn_args, self.cwd = tuple(uvicorn_args), cwd
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        args = [
            sys.executable, "-m", "uvicorn", self.app, "--factory",
            "--host", "127.0.0.1", "--port", str(self.port), "--no-access-log",
            *self.uvicorn_args,
        ]  # fmt: skip
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(  # noqa: S603 - our own app, fixed arguments
                args,
                env={**os.environ, **self.env},
                cwd=self.cwd,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    async def is_ready(self, client: httpx.AsyncClient) -> bool:
        """Whether ``/readyz`` answers 200 now; RuntimeError when the process has exited."""
        if not self.running:
            msg = f"{self.app} is not running: {self.log_tail()}"
            raise RuntimeError(msg)
        try:
            return (await client.get(f"{self.url}/readyz")).status_code == READY
        except httpx.TransportError:
            return False

    async def ready(self, client: httpx.AsyncClient, *, timeout: float = 120.0) -> None:  # noqa: ASYNC109 - a polling deadline
        await wait_until(
            lambda: self.is_ready(client),
            timeout=timeout,
            interval=0.1,
            message=f"{self.app} on port {self.port} ready",
        )

    def log_tail(self, size: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-size:] if self.log.exists() else ""

    def kill(self) -> None:
        self._signal(signal.SIGKILL)

    def stop(self, *, timeout: float = 30.0) -> None:
        if not self.running:
            return
        self._signal(signal.SIGTERM, wait=False)
        assert self.process is not None  # noqa: S101 - running implies a process
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def _signal(self, sig: signal.Signals, *, wait: bool = True) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            return
        if wait:
            self.process.wait(timeout=10)
