"""The supervisor's settings and helpers; the whole run is in tests/e2e/test_make_run.py."""

from __future__ import annotations

import io
import os
import signal
import socket
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest

from mentorship_kit.devrun import (
    SERVICES,
    DevConfig,
    DevRunError,
    SignalWaker,
    Supervisor,
    ensure_postgres_databases,
    http_status,
    port_is_free,
    service_database_url,
    service_port,
    tail,
)
from mentorship_kit.testing import free_port, free_port_base, postgres, wait_until


def test_defaults_are_var_and_ports_8001_to_8004(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    config = DevConfig.from_env({})

    assert config.var_dir == tmp_path / "var"
    assert [service_port(config.port_base, s) for s in SERVICES] == [8001, 8002, 8003, 8004]
    assert config.nats_url is None
    assert config.nats_port is None
    assert config.database_url is None
    assert config.ready_timeout == 90


def test_environment_overrides(tmp_path):
    config = DevConfig.from_env(
        {
            "MENTORSHIP_VAR_DIR": str(tmp_path / "state"),
            "MENTORSHIP_PORT_BASE": "9100",
            "MENTORSHIP_NATS_PORT": "4333",
            "MENTORSHIP_READY_TIMEOUT": "5",
            "NATS_URL": "nats://10.0.0.1:4222",
            "DATABASE_URL": "postgresql://app@db.internal:5432/postgres",
        }
    )

    assert config.var_dir == tmp_path / "state"
    assert service_port(config.port_base, "analytics") == 9104
    assert config.nats_port == 4333
    assert config.ready_timeout == 5
    assert config.nats_url == "nats://10.0.0.1:4222"
    assert config.database_url == "postgresql://app@db.internal:5432/postgres"


@pytest.mark.parametrize(
    ("name", "value", "complaint"),
    [
        ("MENTORSHIP_PORT_BASE", "eight", "not an integer"),
        ("MENTORSHIP_PORT_BASE", "-1", "must be positive"),
        ("MENTORSHIP_NATS_PORT", "70000", "not a TCP port"),
        ("DATABASE_URL", "sqlite+aiosqlite:///x.db", "PostgreSQL server"),
        ("DATABASE_URL", "mysql://db/x", "PostgreSQL server"),
    ],
)
def test_bad_settings_fail_fast_naming_the_variable(name, value, complaint):
    with pytest.raises(DevRunError, match=complaint) as raised:
        DevConfig.from_env({name: value})
    assert name in str(raised.value)


def test_database_urls_sqlite_file_per_service_or_database_per_service(tmp_path):
    assert (
        service_database_url("matching", var_dir=tmp_path, server_url=None)
        == f"sqlite+aiosqlite:///{tmp_path}/matching.db"
    )
    assert (
        service_database_url(
            "sessions", var_dir=tmp_path, server_url="postgresql://u:secret@h:5433/postgres"
        )
        == "postgresql+asyncpg://u:secret@h:5433/mentorship_sessions"
    )


def test_port_is_free_sees_a_listening_socket():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]

        assert not port_is_free(port)
    assert port_is_free(port)


def test_tail_returns_the_last_lines(tmp_path):
    log = tmp_path / "x.log"
    log.write_text("".join(f"line {i}\n" for i in range(100)))

    assert tail(log, 3) == ["line 97", "line 98", "line 99"]
    assert tail(tmp_path / "missing.log") == []


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_signal_waker_turns_ctrl_c_and_sigterm_into_a_stop_request(signum):
    with SignalWaker() as waker:
        os.kill(os.getpid(), signum)
        waker.wait(timeout=5)

        assert waker.stop_requested
        assert waker.stop_signal == signum
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_signal_waker_wakes_on_sigchld_without_a_stop_request():
    with SignalWaker() as waker:
        os.kill(os.getpid(), signal.SIGCHLD)
        waker.wait(timeout=5)

        assert not waker.stop_requested


async def test_missing_postgres_databases_are_created_once():
    server = postgres.test_database_url()
    if server is None:
        pytest.skip("TEST_DATABASE_URL is not set")
    names = [f"mtest_devrun_{uuid.uuid4().hex[:10]}" for _ in range(2)]
    try:
        first = await ensure_postgres_databases(server, names)
        second = await ensure_postgres_databases(server, names)

        assert first == names
        assert second == []
    finally:
        admin = await asyncpg.connect(postgres.asyncpg_dsn(server))
        try:
            for name in names:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def test_unsafe_database_names_are_refused_before_connecting():
    with pytest.raises(ValueError, match="not a safe database name"):
        await ensure_postgres_databases("postgresql://nobody@127.0.0.1:1/postgres", ['x"; --'])


def test_var_dir_is_absolute_so_children_agree_with_the_supervisor(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    config = DevConfig.from_env({"MENTORSHIP_VAR_DIR": "relative/state"})

    assert config.var_dir == Path(tmp_path, "relative", "state")
    assert config.var_dir.is_absolute()


def test_an_unreachable_postgres_server_is_a_clear_error_before_anything_starts(tmp_path):
    out = io.StringIO()
    config = DevConfig(
        var_dir=tmp_path,
        port_base=free_port(),
        nats_url="nats://127.0.0.1:4222",
        database_url=f"postgresql://dev:hunter2@127.0.0.1:{free_port()}/postgres",
    )
    supervisor = Supervisor(config, out=out)

    assert supervisor.run() == 2

    assert "cannot prepare the databases on postgresql://dev:***@127.0.0.1" in (out.getvalue())
    assert "hunter2" not in out.getvalue()
    assert supervisor.children == []


UNREADY_SERVICE = """
import http.server, json, sys

class NotReady(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"detail": "not ready: nats"}).encode()
        self.send_response(503)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

print("nats.error: connection refused", flush=True)
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), NotReady).serve_forever()
"""


async def test_services_not_ready_in_time_are_reported_with_their_log_tails(tmp_path):
    out = io.StringIO()
    port_base = free_port_base(len(SERVICES))
    config = DevConfig(var_dir=tmp_path, port_base=port_base, ready_timeout=1)
    supervisor = Supervisor(config, out=out)
    config.log_dir.mkdir(parents=True)
    try:
        for service in SERVICES:
            port = service_port(port_base, service)
            argv = [sys.executable, "-c", UNREADY_SERVICE, str(port)]
            supervisor._spawn(service, argv, os.environ, f"http://127.0.0.1:{port}")
        for service in SERVICES:
            url = f"http://127.0.0.1:{service_port(port_base, service)}/readyz"
            await wait_until(lambda url=url: http_status(url) == 503, timeout=30)

        with SignalWaker() as waker:
            ready = supervisor._wait_until_ready(waker)
    finally:
        supervisor.stop_all()

    assert ready is False
    for service in SERVICES:
        assert f"{service}: /readyz not 200 after 1 s (503: not ready: nats); last lines" in (
            out.getvalue()
        )
    assert out.getvalue().count("  | nats.error: connection refused") == len(SERVICES)
