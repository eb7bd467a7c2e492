"""Leader election: exactly one active holder per name, the others stand by.

Background workers that must not run twice at once (the outbox relay, a projector) take
a :class:`LeaderLock` and run their work through :func:`run_as_leader`, which cancels
the work the moment leadership is lost.

- PostgreSQL: a session advisory lock (``pg_try_advisory_lock``) held on a dedicated
  connection. The server releases it when that connection ends, so a killed holder
  frees it at once. The connection is checked every second; losing it means the lock
  may already belong to someone else, so it counts as losing leadership.
- SQLite: ``flock`` on a file beside the database. The kernel releases it when the
  holding process dies, however it dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Self, TypeVar

import sqlalchemy as sa
import structlog
from sqlalchemy.exc import SQLAlchemyError

from mentorship_kit.supervisor import raise_if_cancelling

if TYPE_CHECKING:
    from types import TracebackType

    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = structlog.get_logger(__name__)

T = TypeVar("T")

RETRY_INTERVAL = 0.25
CHECK_INTERVAL = 1.0
CHECK_TIMEOUT = 3.0
_UNSAFE_FILE_CHARS = re.compile(r"[^A-Za-z0-9_.-]")


class LeadershipLostError(Exception):
    """The lock was lost while the work was running; the work has been cancelled."""

    def __init__(self, name: str) -> None:
        super().__init__(f"leadership of {name!r} was lost")
        self.name = name


class LeaderLock(ABC):
    """One named lock; ``acquire`` waits until this instance is the leader.

    ``lost`` is set when a held lock can no longer be trusted (its connection died);
    the holder must stop working at once and call :meth:`release`.
    """

    def __init__(self, name: str, *, retry_interval: float = RETRY_INTERVAL) -> None:
        self.name = name
        self.retry_interval = retry_interval
        self.lost = asyncio.Event()
        self._held = False

    @property
    def held(self) -> bool:
        return self._held and not self.lost.is_set()

    async def acquire(self) -> None:
        """Wait until this instance holds the lock (stand by until then)."""
        standing_by = False
        while True:
            raise_if_cancelling()
            try:
                if await self.try_acquire():
                    return
            except (OSError, SQLAlchemyError) as exc:
                # The database being away is a reason to keep waiting, not to crash.
                log.warning("leader.acquire_failed", lock=self.name, error=str(exc))
            else:
                if not standing_by:
                    standing_by = True
                    log.info("leader.standing_by", lock=self.name)
            await asyncio.sleep(self.retry_interval)

    async def try_acquire(self) -> bool:
        """Take the lock if it is free; True when this instance now holds it."""
        if self.held:
            return True
        if self._held:
            await self.release()  # lost: drop what is left of it before trying again
        if not await self._try_lock():
            return False
        self.lost.clear()
        self._held = True
        self._start_watching()
        return True

    async def release(self) -> None:
        """Give the lock up (safe to call when not held or after it was lost)."""
        self._held = False
        await self._unlock()

    @abstractmethod
    async def _try_lock(self) -> bool: ...

    @abstractmethod
    async def _unlock(self) -> None: ...

    @abstractmethod
    def _start_watching(self) -> None:
        """Begin checking that the held lock is still ours (set ``lost`` when not)."""

    def _mark_lost(self, reason: str) -> None:
        if self._held and not self.lost.is_set():
            log.warning("leader.lost", lock=self.name, reason=reason)
            self.lost.set()

    async def __aenter__(self) -> Self:
        await self.acquire()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.release()


async def run_as_leader(lock: LeaderLock, work: Callable[[], Awaitable[T]]) -> T:
    """Run ``work`` while ``lock`` is held; cancel it once leadership is lost.

    The lock must already be held. Returns what ``work`` returns; raises
    :class:`LeadershipLostError` after cancelling the work when the lock was lost.
    """

    async def call() -> T:
        return await work()

    task = asyncio.create_task(call())
    lost = asyncio.create_task(lock.lost.wait())
    try:
        await asyncio.wait({task, lost}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        lost.cancel()
        if not task.done():
            task.cancel()
        # Let the work's own cleanup (finally blocks) finish before returning.
        await asyncio.gather(task, lost, return_exceptions=True)
    if task.cancelled():
        raise LeadershipLostError(lock.name)
    return task.result()


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for a name."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class PostgresLeaderLock(LeaderLock):
    """``pg_try_advisory_lock`` on a dedicated connection, checked every second."""

    def __init__(
        self,
        engine: AsyncEngine,
        name: str,
        *,
        retry_interval: float = RETRY_INTERVAL,
        check_interval: float = CHECK_INTERVAL,
        check_timeout: float = CHECK_TIMEOUT,
    ) -> None:
        super().__init__(name, retry_interval=retry_interval)
        self.key = lock_key(name)
        self._engine = engine
        self._check_interval = check_interval
        self._check_timeout = check_timeout
        self._conn: AsyncConnection | None = None
        self._watchdog: asyncio.Task[None] | None = None

    async def _try_lock(self) -> bool:
        if self._conn is None:
            conn = await self._engine.connect()
            # Autocommit: the connection sits idle for hours and must never hold a
            # transaction open (that would pin the snapshot horizon the relay reads by).
            self._conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        try:
            query = sa.select(sa.func.pg_try_advisory_lock(self.key))
            return bool((await self._conn.execute(query)).scalar_one())
        except BaseException:
            await self._drop_connection()
            raise

    def _start_watching(self) -> None:
        self._watchdog = asyncio.create_task(self._watch(), name=f"leader-watch:{self.name}")

    async def _watch(self) -> None:
        conn = self._conn
        assert conn is not None  # noqa: S101 - only started once the lock is held
        while True:
            raise_if_cancelling()
            await asyncio.sleep(self._check_interval)
            try:
                await asyncio.wait_for(conn.execute(sa.select(1)), self._check_timeout)
            except Exception as exc:  # noqa: BLE001 - any failure means the lock is unverifiable
                self._mark_lost(f"lock connection failed: {exc!r}")
                return

    async def _unlock(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            await asyncio.gather(self._watchdog, return_exceptions=True)
            self._watchdog = None
        await self._drop_connection()

    async def _drop_connection(self) -> None:
        # Closing the physical connection ends the session, and PostgreSQL releases a
        # session's advisory locks with it: no unlock call that could fail half-way.
        conn, self._conn = self._conn, None
        if conn is None:
            return
        with contextlib.suppress(OSError, SQLAlchemyError):
            await conn.invalidate()
        with contextlib.suppress(OSError, SQLAlchemyError):
            await conn.close()


class FileLeaderLock(LeaderLock):
    """``flock(LOCK_EX | LOCK_NB)`` on a lock file; the kernel frees it on exit."""

    def __init__(self, path: Path, name: str, *, retry_interval: float = RETRY_INTERVAL) -> None:
        super().__init__(name, retry_interval=retry_interval)
        self.path = path
        self._fd: int | None = None

    async def _try_lock(self) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def _start_watching(self) -> None:
        # Nothing to watch: nobody can take a flock away from the descriptor holding it.
        return

    async def _unlock(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            # Closing the descriptor releases the flock taken through it.
            os.close(fd)


def leader_lock(engine: AsyncEngine, name: str) -> LeaderLock:
    """The lock for ``name`` on this engine's database (one leader per database and name)."""
    if engine.dialect.name == "postgresql":
        return PostgresLeaderLock(engine, name)
    database = engine.url.database
    if not database or database == ":memory:":
        msg = "leader election on SQLite needs a database file"
        raise ValueError(msg)
    safe_name = _UNSAFE_FILE_CHARS.sub("_", name)
    return FileLeaderLock(Path(f"{database}.{safe_name}.lock"), name)
