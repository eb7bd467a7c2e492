"""Rebuilding a read model from history, with progress, while its consumer is paused.

The kit's :func:`~mentorship_kit.projection.rebuild` does the heavy lifting: it feeds
every event of the source into shadow tables and swaps them in atomically, re-seeding
the consumer's per-aggregate versions so the resumed consumer skips what the rebuild
applied. Around it this module:

1. records the rebuild (``pending``) — one per read model at a time;
2. pauses the read model's consumer, here at once and on other replicas through the
   table they poll, and waits until the local one has stopped;
3. replays the source (JetStream, or the producer's feed when the stream was trimmed)
   with a heartbeat that publishes the progress;
4. retries when the swap finds that a consumer (another replica that had not paused
   yet) moved past the replay, then marks the rebuild ``swapped`` or ``failed``.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import structlog
from opentelemetry import trace
from prometheus_client import Counter, Gauge
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.adapters import rebuild_log
from analytics.adapters.rebuild_log import RebuildRecord
from analytics.application.control import ReadModelControl
from analytics.application.readmodels import SERVICE, ReadModel, read_model
from analytics.application.sources import Sources
from analytics.domain.errors import RebuildNotFoundError, RebuildRunningError
from mentorship_kit.projection import RebuildBehindError, rebuild

log = structlog.get_logger(__name__)
tracer = trace.get_tracer(__name__)

HEARTBEAT_SECONDS: Final = 1.0
SWAP_ATTEMPTS: Final = 3

REBUILDS = Counter(
    "analytics_rebuilds_total",
    "Read-model rebuilds by outcome (swapped | failed) and source (jetstream | feed | empty).",
    ["service", "read_model", "outcome", "source"],
)
REBUILD_EVENTS = Gauge(
    "analytics_rebuild_events",
    "Events applied by the running (or last) rebuild of a read model.",
    ["service", "read_model"],
)


@dataclass(frozen=True)
class Rebuilder:
    engine: AsyncEngine
    sources: Sources
    control: ReadModelControl
    batch_size: int

    async def request(
        self, name: str, requested_by: str | None, idempotency_key: str | None = None
    ) -> RebuildRecord:
        """Record a pending rebuild and hand it to the rebuild worker.

        The same ``idempotency_key`` for the same read model returns the rebuild it
        started (keys are scoped to the read model, as the request has no body).
        RebuildRunningError when the read model is being rebuilt already.
        """
        model = read_model(name)
        if idempotency_key is not None:
            async with self.engine.connect() as conn:
                earlier = await rebuild_log.by_idempotency_key(conn, model.name, idempotency_key)
            if earlier is not None:
                return earlier
        record = await self._claim(model, requested_by, idempotency_key)
        self.control.rebuild_requests.put_nowait(record.rebuild_id)
        return record

    async def rebuild_now(self, model: ReadModel, requested_by: str) -> RebuildRecord:
        """Rebuild here and now (the consumer's catch-up); raises RebuildRunningError."""
        record = await self._claim(model, requested_by)
        return await self.run(record.rebuild_id)

    async def _claim(
        self, model: ReadModel, requested_by: str | None, idempotency_key: str | None = None
    ) -> RebuildRecord:
        rebuild_id = str(uuid.uuid4())
        async with self.engine.begin() as conn:
            running = await rebuild_log.claim(
                conn, rebuild_id, model.name, requested_by, idempotency_key
            )
        if running is not None:
            raise RebuildRunningError(model.name, running.rebuild_id)
        return await self.get(rebuild_id)

    async def get(self, rebuild_id: str) -> RebuildRecord:
        async with self.engine.connect() as conn:
            record = await rebuild_log.get(conn, rebuild_id)
        if record is None:
            raise RebuildNotFoundError(rebuild_id)
        return record

    async def latest(self, name: str, limit: int) -> list[RebuildRecord]:
        model = read_model(name)
        async with self.engine.connect() as conn:
            return await rebuild_log.latest(conn, model.name, limit)

    async def _update(self, rebuild_id: str, **values: object) -> None:
        async with self.engine.begin() as conn:
            await rebuild_log.update(conn, rebuild_id, **values)

    async def run(self, rebuild_id: str) -> RebuildRecord:
        """Carry out a recorded rebuild; its outcome is in the returned record."""
        model = read_model((await self.get(rebuild_id)).read_model)
        progress = _Progress()
        await self.control.pause(model.name)
        heartbeat = asyncio.create_task(self._heartbeat(rebuild_id, model, progress))
        source = "none"
        try:
            with tracer.start_as_current_span(
                "analytics.rebuild", attributes={"read_model": model.name}
            ):
                await self.control.wait_not_consuming(model.name)
                source = await self._replay(rebuild_id, model, progress)
            REBUILDS.labels(SERVICE, model.name, "swapped", source).inc()
        except asyncio.CancelledError:
            await self._finish_quietly(rebuild_id, "failed", "cancelled: the service stopped")
            raise
        except Exception as exc:
            log.exception("analytics.rebuild_failed", rebuild_id=rebuild_id, read_model=model.name)
            REBUILDS.labels(SERVICE, model.name, "failed", source).inc()
            await self._finish_quietly(rebuild_id, "failed", f"{type(exc).__name__}: {exc}")
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            await self.control.resume(model.name)
        return await self.get(rebuild_id)

    async def _replay(self, rebuild_id: str, model: ReadModel, progress: _Progress) -> str:
        for attempt in range(1, SWAP_ATTEMPTS + 1):
            replay = await self.sources.replay(model.source)
            progress.events = 0
            await self._update(
                rebuild_id,
                status="running",
                source=replay.kind,
                events=0,
                expected_events=replay.expected_events,
            )
            try:
                result = await rebuild(
                    model.make(),
                    self.engine,
                    replay.events,
                    progress=progress.set,
                    consumer=model.consumer,
                    batch_size=self.batch_size,
                )
            except RebuildBehindError:
                if attempt == SWAP_ATTEMPTS:
                    raise
                log.warning("analytics.rebuild_behind", rebuild_id=rebuild_id, attempt=attempt)
                continue
            await self._update(
                rebuild_id,
                status="swapped",
                events=result.events,
                duplicates=result.duplicates,
                covers_sequence=replay.covers_sequence,
                finished_at=datetime.now(UTC),
            )
            log.info(
                "analytics.rebuilt",
                rebuild_id=rebuild_id,
                read_model=model.name,
                source=replay.kind,
                events=result.events,
                seconds=round(result.seconds, 3),
            )
            return replay.kind
        msg = "unreachable: every attempt returns or raises"
        raise AssertionError(msg)

    async def _heartbeat(self, rebuild_id: str, model: ReadModel, progress: _Progress) -> None:
        """Publish the progress and keep the rebuild's row fresh while it runs."""
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            REBUILD_EVENTS.labels(SERVICE, model.name).set(progress.events)
            try:
                await self._update(rebuild_id, events=progress.events)
            except Exception as exc:  # noqa: BLE001 - a missed beat must not stop the rebuild
                log.warning("analytics.rebuild_heartbeat_failed", error=repr(exc))

    async def _finish_quietly(self, rebuild_id: str, status: str, error: str) -> None:
        try:
            await self._update(
                rebuild_id, status=status, error=error[:4000], finished_at=datetime.now(UTC)
            )
        except Exception as exc:  # noqa: BLE001 - the rebuild's own error matters more
            log.warning("analytics.rebuild_record_failed", error=repr(exc))


class _Progress:
    def __init__(self) -> None:
        self.events = 0

    def set(self, events: int) -> None:
        self.events = events


class RebuildWorker:
    """Runs the rebuilds requested over HTTP, one after the other."""

    def __init__(self, rebuilder: Rebuilder) -> None:
        self.rebuilder = rebuilder

    async def run(self) -> None:
        requests = self.rebuilder.control.rebuild_requests
        while True:
            rebuild_id = await requests.get()
            await self.rebuilder.run(rebuild_id)
