"""Start-up, readiness and shutdown of a service process's dependencies.

Start-up never crash-loops on a missing dependency. The database schema, the NATS
connection and the JetStream stream are brought up by a background bootstrap that
retries with backoff; start-up waits for it up to ``STARTUP_WAIT_SECONDS`` and then
serves anyway. Until the bootstrap is done ``/readyz`` answers 503 naming what is
missing, while ``/healthz`` answers 200 so that an orchestrator keeps the process
instead of restarting it in a loop. The relay and the workers start once the stream
exists. When NATS drops later, the client reconnects by itself and ``/readyz`` reports
it meanwhile; commands keep being accepted (the outbox holds their events).

The schema step runs the service's migrations (``upgrade head``, under a lock) when
``MIGRATE_ON_START`` allows it — by default on SQLite and in DEV_MODE. Otherwise it only
checks the revision, and while the schema is behind it retries, with the command to run
in the log and in ``/readyz`` (check ``schema``); it never migrates behind the back of a
deployment whose migration Job does that.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Final

import sqlalchemy as sa
import structlog
from prometheus_client import Info

from mentorship_kit import messaging
from mentorship_kit.context import ServiceContext
from mentorship_kit.db import collect_young_every, freeze_startup_heap, warm_pool
from mentorship_kit.migrations import Migrations, SchemaState, schema_status, upgrade
from mentorship_kit.supervisor import TaskSupervisor, Worker

log = structlog.get_logger(__name__)

OK: Final = "ok"
FAILING: Final = "failing"
Check = dict[str, str]

SCHEMA_REVISION: Final = Info(
    "mentorship_schema_revision",
    "The database schema revision (Alembic) found at start-up, and this release's head.",
    ["service"],
)


class SchemaBehindError(Exception):
    """The schema needs migrations this process may not run (MIGRATE_ON_START off)."""


def _failure(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


class _QuietErrors:
    """NATS error callback that logs the first error of a streak and counts the rest.

    While the server is down the client retries every quarter second and reports every
    failed attempt; one line per outage is enough.
    """

    def __init__(self, connection: str) -> None:
        self.connection = connection
        self.suppressed = 0
        self.closing = False

    async def on_error(self, exc: Exception) -> None:
        if self.suppressed == 0:
            log.warning("nats.error", connection=self.connection, error=str(exc) or repr(exc))
        self.suppressed += 1

    async def on_disconnect(self) -> None:
        if not self.closing:
            log.warning("nats.disconnected", connection=self.connection)

    async def on_reconnect(self) -> None:
        log.info("nats.reconnected", connection=self.connection, errors=self.suppressed)
        self.suppressed = 0


class ServiceRuntime:
    def __init__(
        self,
        context: ServiceContext,
        tasks: Sequence[tuple[str, Callable[[], Worker]]],
        *,
        migrations: Migrations | None = None,
    ) -> None:
        self.context = context
        self._tasks = tasks
        self._migrations = migrations
        self._schema: Check = {"status": FAILING, "detail": "not checked yet"}
        self._supervisor = TaskSupervisor(context.service)
        self._connected = asyncio.Event()
        self._step = "not started"
        self._bootstrapped = False
        self._background: list[asyncio.Task[None]] = []
        self._nats_callbacks = _QuietErrors(context.service)

    async def start(self) -> None:
        settings = self.context.settings
        self._background = [
            asyncio.create_task(self._connect_nats(), name="nats-connect"),
            asyncio.create_task(self._bootstrap(), name="bootstrap"),
        ]
        _, pending = await asyncio.wait(
            [self._background[1]], timeout=settings.startup_wait_seconds
        )
        if pending:
            log.warning(
                "service.serving_unready",
                waiting_for=self._step,
                waited_seconds=settings.startup_wait_seconds,
            )

    async def _connect_nats(self) -> None:
        callbacks = self._nats_callbacks
        # The client's first connect retries forever (max_reconnect_attempts=-1) and
        # returns once a server answers; reconnects after that are its own business.
        await self.context.nc.connect(
            servers=self.context.settings.nats_servers,
            name=self.context.service,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.25,  # type: ignore[arg-type]  # annotated int, any float works
            connect_timeout=2,
            allow_reconnect=True,
            error_cb=callbacks.on_error,
            disconnected_cb=callbacks.on_disconnect,
            reconnected_cb=callbacks.on_reconnect,
        )
        log.info("nats.connected", servers=self.context.settings.nats_servers)
        callbacks.suppressed = 0
        self._connected.set()

    async def _bootstrap(self) -> None:
        context = self.context
        await self._until_done("database schema", self._prepare_schema)
        self._step = "NATS connection"
        await self._connected.wait()
        await self._until_done(
            "JetStream stream",
            lambda: messaging.ensure_stream(
                context.js, context.service, replicas=context.settings.nats_stream_replicas
            ),
        )
        self._step = "database pool"
        warmed = await warm_pool(context.engine)
        for name, make in self._tasks:
            self._supervisor.start(name, make)
        if context.settings.freeze_startup_heap:
            freeze_startup_heap()
        collect_young_every(context.settings.gc_young_threshold)
        self._step = "done"
        self._bootstrapped = True
        log.info("service.bootstrapped", tasks=self._supervisor.names, pool_connections=warmed)

    async def _prepare_schema(self) -> None:
        try:
            self._schema = await self._schema_at_start()
        except Exception as exc:
            self._schema = {"status": FAILING, "detail": _failure(exc)}
            raise

    async def _schema_at_start(self) -> Check:
        """Upgrade the schema, or check it is not behind (see ``MIGRATE_ON_START``)."""
        context, migrations = self.context, self._migrations
        if migrations is None:
            await context.store.create_schema()
            return {"status": OK, "detail": "tables created from the metadata (no migrations)"}
        if context.settings.migrates_on_start(context.service):
            result = await upgrade(context.engine, migrations)
            revision, head = result.head, result.head
            detail = f"at revision {head} (head)"
        else:
            status = await schema_status(context.engine, migrations)
            if status.state is SchemaState.BEHIND:
                msg = (
                    f"the database schema is {status.describe()}: run `mentorship migrate "
                    f"--service {context.service}` (this process does not migrate: "
                    "MIGRATE_ON_START is off)"
                )
                raise SchemaBehindError(msg)
            if status.state is SchemaState.AHEAD:
                # Expected during a rolling upgrade: the new release's migration ran and
                # this one keeps serving (migrations stay backward compatible).
                log.warning("migrations.schema_ahead", detail=status.describe())
            revision, head = ",".join(status.current), status.head
            detail = status.describe()
        SCHEMA_REVISION.labels(context.service).info({"revision": revision, "head": head})
        return {"status": OK, "detail": detail}

    async def _until_done(self, step: str, action: Callable[[], Awaitable[None]]) -> None:
        self._step = step
        delay = 0.25
        while True:
            try:
                await action()
            except Exception as exc:  # noqa: BLE001 - any failure is retried and logged
                log.warning("service.bootstrap_retry", step=step, error=repr(exc), retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
            else:
                return

    async def readiness(self) -> dict[str, Check]:
        """Every check by name, each ``{"status": "ok"|"failing", "detail"?: ...}``."""
        return {
            "database": await self._check_database(),
            "nats": self._check_nats(),
            "schema": self._schema,
            "startup": {"status": OK}
            if self._bootstrapped
            else {"status": FAILING, "detail": f"waiting for the {self._step}"},
        }

    async def _check_database(self) -> Check:
        try:
            async with asyncio.timeout(self.context.settings.readiness_timeout_seconds):
                async with self.context.engine.connect() as conn:
                    await conn.execute(sa.text("SELECT 1"))
        except TimeoutError:
            return {"status": FAILING, "detail": "SELECT 1 timed out"}
        except Exception as exc:  # noqa: BLE001 - reported, not raised: this is the check
            return {"status": FAILING, "detail": _failure(exc)}
        return {"status": OK}

    def _check_nats(self) -> Check:
        nc = self.context.nc
        if nc.is_connected:
            return {"status": OK}
        state = "reconnecting" if nc.is_reconnecting else "not connected"
        return {"status": FAILING, "detail": f"{state} to {self.context.settings.nats_url}"}

    async def stop(self) -> None:
        """Stop the workers and relay, drain NATS, dispose the engine."""
        grace = self.context.settings.shutdown_timeout_seconds
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await self._supervisor.stop(grace)
        await self._close_nats(grace)
        await self.context.store.close()
        await self.context.engine.dispose()
        log.info("service.stopped")

    async def _close_nats(self, grace: float) -> None:
        nc = self.context.nc
        self._nats_callbacks.closing = True
        if nc.is_connected:
            try:
                # drain() lets subscriptions finish what they hold and flushes publishes.
                async with asyncio.timeout(grace):
                    await nc.drain()
            except Exception as exc:  # noqa: BLE001 - shutdown goes on; close below
                log.warning("nats.drain_failed", error=repr(exc))
        if not nc.is_closed:
            await nc.close()
