"""A PostgreSQL server owned by one test: its own cluster, port and fate.

Fault tests stop the database under load (``pg_ctl stop -m immediate``: the server
crashes, as far as its clients and its data files are concerned, and recovers from its
WAL at the next start); the shared server of ``TEST_DATABASE_URL`` must never be
treated like that, so :class:`PostgresServer` runs a cluster of its own, made with the
distribution's binaries (``initdb``, ``pg_ctl``) in a temporary folder, listening on a
free loopback port with trust authentication for the ``postgres`` role.

PostgreSQL refuses to run as root. When the tests run as root, every server command is
run as the ``postgres`` OS user (``runuser -u postgres --``), and the folder, created
under the system temporary directory, is handed to that user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Final, Self

from mentorship_kit.testing.util import free_port

SERVER_USER: Final = "postgres"
BIN_DIR_VARIABLE: Final = "POSTGRES_BIN_DIR"


def postgres_bin_dir() -> Path | None:
    """Where ``initdb`` and ``pg_ctl`` are: ``$POSTGRES_BIN_DIR``, the PATH, or the newest
    Debian/Ubuntu ``/usr/lib/postgresql/<major>/bin``; None when nowhere."""
    candidates: list[Path] = []
    if configured := os.environ.get(BIN_DIR_VARIABLE):
        candidates.append(Path(configured))
    if on_path := shutil.which("pg_ctl"):
        candidates.append(Path(on_path).parent)
    debian = Path("/usr/lib/postgresql")
    if debian.is_dir():
        majors = [d for d in debian.iterdir() if d.name.isdigit()]
        candidates += [d / "bin" for d in sorted(majors, key=lambda d: -int(d.name))]
    complete = (d for d in candidates if (d / "initdb").exists() and (d / "pg_ctl").exists())
    return next(complete, None)


class PostgresServer:
    """``with PostgresServer() as pg: ... pg.stop(); pg.start() ...`` — see the module
    docstring. ``url`` names the ``postgres`` database; create others as usual."""

    def __init__(
        self,
        *,
        bin_dir: Path | None = None,
        port: int | None = None,
        settings: Mapping[str, str] | None = None,
    ) -> None:
        found = bin_dir or postgres_bin_dir()
        if found is None:
            msg = f"PostgreSQL server binaries not found: set {BIN_DIR_VARIABLE}"
            raise RuntimeError(msg)
        self.bin_dir = found
        self.port = port or free_port()
        # Several services with connection pools of their own share this one server.
        self.settings = {"max_connections": "300", **(settings or {})}
        self.folder = Path(tempfile.mkdtemp(prefix="pgserver-"))
        self.data = self.folder / "data"
        self.log_path = self.folder / "server.log"
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            account = pwd.getpwnam(SERVER_USER)  # KeyError: no such user, no way to run
            os.chown(self.folder, account.pw_uid, account.pw_gid)
            self._as_user = ["runuser", "-u", SERVER_USER, "--"]
        self._initialised = False

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 120.0) -> None:
        command = [*self._as_user, str(self.bin_dir / args[0]), *args[1:]]
        result = subprocess.run(  # noqa: S603 - the distribution's binaries, fixed arguments
            command, capture_output=True, text=True, timeout=timeout, check=False
        )
        if result.returncode != 0:
            msg = (
                f"{args[0]} failed ({result.returncode}): {result.stderr.strip()}\n"
                f"{self.log_tail()}"
            )
            raise RuntimeError(msg)

    def log_tail(self, size: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-size:]
        except OSError:
            return ""

    def start(self, *, timeout: float = 60.0) -> Self:
        """Start the server (initialising the cluster the first time); returns once it
        accepts connections (``pg_ctl -w``). After an immediate stop this includes the
        crash recovery from the WAL."""
        if not self._initialised:
            self._run(
                "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                "--encoding=UTF8", "--no-sync",
            )  # fmt: skip
            self._initialised = True
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.folder}"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log_path), "-o", options,
            "-w", "-t", str(int(timeout)), "start",
            timeout=timeout + 10,
        )  # fmt: skip
        return self

    def stop(self, *, mode: str = "immediate") -> None:
        """``pg_ctl stop -m <mode>``: ``immediate`` aborts every backend without a
        checkpoint (the next start recovers), ``fast`` shuts down cleanly."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    @property
    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def close(self) -> None:
        if self._initialised and self.running:
            self.stop(mode="immediate")
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *_exc: object) -> None:
        self.close()
