"""`make run`'s supervisor, as a user runs it: start, everything ready, Ctrl-C, nothing left.

The supervisor runs as the real console script on free ports, with its own var directory
and its own nats-server, so it never touches a developer's `make run` or the system NATS.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mentorship_kit.devrun import PID_FILE_NAME, SERVICES, http_status
from mentorship_kit.testing import free_port, free_port_base, wait_until

MENTORSHIP = Path(sys.executable).parent / "mentorship"
READY_DEADLINE_S = 90.0


class Supervisor:
    def __init__(self, tmp_path: Path, port_base: int, **extra_env: str) -> None:
        self.var_dir = tmp_path / "var"
        self.port_base = port_base
        self.output_path = tmp_path / "supervisor.out"
        env = {k: v for k, v in os.environ.items() if k not in {"NATS_URL", "DATABASE_URL"}}
        env.update(
            MENTORSHIP_VAR_DIR=str(self.var_dir),
            MENTORSHIP_PORT_BASE=str(self.port_base),
            MENTORSHIP_NATS_PORT=str(free_port()),
            **extra_env,
        )
        with self.output_path.open("wb") as output:
            self.process = subprocess.Popen(  # noqa: S603 - our own console script
                [str(MENTORSHIP), "dev", "up"],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=tmp_path,
            )

    def url(self, index: int, path: str) -> str:
        return f"http://127.0.0.1:{self.port_base + index + 1}{path}"

    @property
    def output(self) -> str:
        return self.output_path.read_text(encoding="utf-8", errors="replace")

    def all_ready(self) -> bool:
        if self.process.poll() is not None:
            pytest.fail(f"supervisor exited with {self.process.returncode}:\n{self.output}")
        return all(http_status(self.url(i, "/readyz")) == 200 for i in range(len(SERVICES)))

    def child_pids(self) -> dict[str, int]:
        record = json.loads((self.var_dir / PID_FILE_NAME).read_text(encoding="utf-8"))
        assert record["supervisor"] == self.process.pid
        return {name: int(pid) for name, pid in record["children"].items()}

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def start_supervisor(tmp_path: Path) -> Iterator[object]:
    started: list[Supervisor] = []

    def start(port_base: int | None = None, **extra_env: str) -> Supervisor:
        supervisor = Supervisor(tmp_path, port_base or free_port_base(len(SERVICES)), **extra_env)
        started.append(supervisor)
        return supervisor

    yield start
    for supervisor in started:
        supervisor.kill()


def is_gone(pid: int) -> bool:
    """Neither the process nor any member of the process group it led still exists."""
    for probe in (os.kill, os.killpg):
        try:
            probe(pid, 0)
        except ProcessLookupError:
            continue
        return False
    return True


async def test_run_starts_everything_and_ctrl_c_leaves_nothing_behind(start_supervisor):
    supervisor = start_supervisor()

    await wait_until(supervisor.all_ready, timeout=READY_DEADLINE_S, interval=0.25,
                     message="all four /readyz answering 200")  # fmt: skip

    for index in range(len(SERVICES)):
        for path in ("/healthz", "/metrics", "/docs", "/openapi.json"):
            assert http_status(supervisor.url(index, path)) == 200, (SERVICES[index], path)
    pids = supervisor.child_pids()
    assert set(pids) == {"nats", *SERVICES}
    assert not any(is_gone(pid) for pid in pids.values())
    for service in SERVICES:
        assert (supervisor.var_dir / f"{service}.db").exists()
        assert (supervisor.var_dir / "logs" / f"{service}.log").exists()
    assert (supervisor.var_dir / "nats" / "jetstream").is_dir()
    await wait_until(lambda: "ready" in supervisor.output, message="the ready banner")
    assert "/docs" in supervisor.output
    assert "mentorship token" in supervisor.output

    supervisor.process.send_signal(signal.SIGINT)
    exit_code = supervisor.process.wait(timeout=120)

    assert exit_code == 0, supervisor.output
    assert [name for name, pid in pids.items() if not is_gone(pid)] == []
    assert not (supervisor.var_dir / PID_FILE_NAME).exists()


def test_a_taken_service_port_fails_fast_with_a_clear_message(start_supervisor):
    port_base = free_port_base(len(SERVICES))
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as blocker:
        blocker.bind(("127.0.0.1", port_base + 2))
        blocker.listen()
        supervisor = start_supervisor(port_base)

        exit_code = supervisor.process.wait(timeout=120)

    assert exit_code == 2
    assert f"port {port_base + 2} (matching) is already in use" in supervisor.output
    assert "MENTORSHIP_PORT_BASE" in supervisor.output
    assert not (supervisor.var_dir / "logs").exists()


async def test_a_crashed_service_stops_the_rest_and_fails(start_supervisor):
    supervisor = start_supervisor()
    await wait_until(supervisor.all_ready, timeout=READY_DEADLINE_S, interval=0.25,
                     message="all four /readyz answering 200")  # fmt: skip
    pids = supervisor.child_pids()

    os.kill(pids["sessions"], signal.SIGKILL)
    exit_code = supervisor.process.wait(timeout=120)

    assert exit_code == 1
    assert "sessions: exited with -9" in supervisor.output
    assert [name for name, pid in pids.items() if not is_gone(pid)] == []
