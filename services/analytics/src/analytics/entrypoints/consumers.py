"""The consumer workers: one per read model, fed by its source stream.

Each worker runs the kit's :class:`~mentorship_kit.consumer.ConsumerRuntime` (durable
pull consumer, per-aggregate version claims, dead letters) with the read model's
projection as handler, and around it:

- **catch-up**: on a fresh database (nothing processed yet) or when the stream was
  trimmed past what the read model has seen, history is first replayed in bulk by a
  rebuild (JetStream, or the producer's event feed for a trimmed stream), and the
  durable consumer is then created to start right after what the replay covered —
  instead of re-delivering the whole history one message at a time;
- **a durable consumer ahead of the database** (the database was replaced but NATS
  kept the consumer) is deleted, so that nothing it acknowledged is lost;
- **pausing**: while a rebuild of the read model runs (here or on another replica),
  the runtime is stopped, and started again afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import structlog
from nats.js.api import ConsumerConfig, DeliverPolicy

from analytics.adapters import rebuild_log
from analytics.application.consumers import (
    delete_durable,
    durable_info,
    processed_position,
    refresh_gauges,
)
from analytics.application.control import ConsumerState, ReadModelControl
from analytics.application.readmodels import SERVICE, ReadModel
from analytics.application.rebuilds import Rebuilder
from analytics.application.sources import Sources
from analytics.config import analytics_settings
from analytics.domain.errors import RebuildRunningError
from mentorship_kit.consumer import ConsumerRuntime
from mentorship_kit.context import ServiceContext
from mentorship_kit.supervisor import raise_if_cancelling

log = structlog.get_logger(__name__)

CATCH_UP_REQUESTER = "catch-up"


class CatchUpError(RuntimeError):
    """The replay that should bring the read model up to date did not succeed."""


class StartingConsumerRuntime(ConsumerRuntime):
    """The kit's runtime, whose durable consumer may start at a given stream sequence.

    ``start_sequence`` is used when the durable is created; an existing durable must be
    given the value it was created with (NATS refuses to change it).
    """

    def __init__(self, *args: Any, start_sequence: int = 0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.start_sequence = start_sequence

    def consumer_config(self) -> ConsumerConfig:
        config = super().consumer_config()
        if self.start_sequence > 1:
            config.deliver_policy = DeliverPolicy.BY_START_SEQUENCE
            config.opt_start_seq = self.start_sequence
        return config


class ReadModelConsumer:
    """A supervised worker; see the module docstring."""

    def __init__(
        self, context: ServiceContext, model: ReadModel, control: ReadModelControl
    ) -> None:
        settings = analytics_settings(context.settings)
        self.context = context
        self.model = model
        self.control = control
        self.settings = settings
        self.sources = Sources(context.js, settings)
        self.rebuilder = Rebuilder(
            context.engine, self.sources, control, settings.analytics_rebuild_batch_size
        )
        self.poll = settings.analytics_pause_poll_seconds
        self._log = log.bind(read_model=model.name, consumer=model.consumer)

    async def run(self) -> None:
        try:
            while True:
                raise_if_cancelling()
                await self._wait_until_free()
                start = await self._prepare()
                if start is not None:
                    await self._consume(start)
        except Exception as exc:
            await self.control.set_state(self.model.name, ConsumerState.FAILING, repr(exc))
            raise

    async def _state(self, state: ConsumerState) -> None:
        await self.control.set_state(self.model.name, state)

    async def _rebuilding_anywhere(self) -> bool:
        async with self.context.engine.connect() as conn:
            return await rebuild_log.active(conn, self.model.name) is not None

    async def _wait_until_free(self) -> None:
        name = self.model.name
        while True:
            raise_if_cancelling()
            if self.control.paused(name):
                await self._state(ConsumerState.PAUSED)
                await self.control.wait_for(name, lambda: not self.control.paused(name))
            elif await self._rebuilding_anywhere():
                # Another replica rebuilds: look at its record again after a poll period.
                await self._state(ConsumerState.PAUSED)
                await self.control.wait_for(name, lambda: self.control.paused(name), self.poll)
            else:
                return

    async def _prepare(self) -> int | None:
        """The sequence the durable consumer starts at (0: the beginning), after any
        catch-up; None when another process is rebuilding the read model meanwhile."""
        model = self.model
        stream = await self.sources.stream_state(model.source)
        # Read the durable before the database: what it acknowledged was committed first.
        durable = await durable_info(self.context.js, model)
        position = await processed_position(self.context.engine, model)
        acknowledged = durable.ack_floor.stream_seq or 0 if durable and durable.ack_floor else 0
        if durable is not None and acknowledged > position:
            self._log.warning(
                "analytics.durable_ahead_of_database",
                acknowledged=acknowledged,
                processed=position,
            )
            await delete_durable(self.context.js, model)
            durable = None
        fresh = position == 0
        trimmed = stream is not None and stream.trimmed and stream.first_sequence > position + 1
        if stream is not None and stream.last_sequence > 0 and (fresh or trimmed):
            return await self._catch_up()
        if durable is not None:
            return durable.config.opt_start_seq or 0
        return 0

    async def _catch_up(self) -> int | None:
        await self._state(ConsumerState.CATCHING_UP)
        self._log.info("analytics.catch_up_starting")
        try:
            record = await self.rebuilder.rebuild_now(self.model, CATCH_UP_REQUESTER)
        except RebuildRunningError:
            return None
        if record.status != "swapped":
            raise CatchUpError(f"catch-up of {self.model.name} failed: {record.error}")
        # The replay covered the stream up to covers_sequence; the consumer goes on from
        # there (a durable from before would re-deliver all of it as duplicates).
        await delete_durable(self.context.js, self.model)
        self._log.info("analytics.caught_up", events=record.events, source=record.source)
        return record.covers_sequence + 1 if record.covers_sequence else 0

    async def _consume(self, start_sequence: int) -> None:
        """Run the runtime until the read model is paused (or the runtime fails)."""
        name = self.model.name
        runtime = StartingConsumerRuntime(
            self.context.engine,
            self.context.js,
            consumer=self.model.consumer,
            source_service=self.model.source,
            handler=self.model.make().handle,
            service=SERVICE,
            batch_size=self.settings.analytics_consumer_batch_size,
            fetch_timeout=self.settings.analytics_consumer_fetch_seconds,
            ack_wait=self.settings.analytics_consumer_ack_wait_seconds,
            max_deliver=self.settings.analytics_consumer_max_deliver,
            backoff=self.settings.analytics_consumer_backoff_seconds,
            start_sequence=start_sequence,
        )
        task = asyncio.create_task(runtime.run(), name=f"runtime-{name}")
        await self._state(ConsumerState.CONSUMING)
        try:
            while True:
                raise_if_cancelling()
                watch = asyncio.create_task(
                    self.control.wait_for(name, lambda: self.control.paused(name), self.poll)
                )
                try:
                    await asyncio.wait({task, watch}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    watch.cancel()
                if task.done():
                    task.result()
                    msg = "the consumer runtime returned"
                    raise RuntimeError(msg)
                if self.control.paused(name) or await self._rebuilding_anywhere():
                    self._log.info("analytics.consumer_pausing")
                    return
                await refresh_gauges(self.context.engine, self.sources, self.model)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await self._state(ConsumerState.PAUSED)


class ConsumerWorker:
    """Builds the worker of one read model (named after it in logs and metrics)."""

    def __init__(self, model: ReadModel, control: ReadModelControl) -> None:
        self.model = model
        self.control = control
        self.__qualname__ = f"consumer-{model.name}"

    def __call__(self, context: ServiceContext) -> ReadModelConsumer:
        return ReadModelConsumer(context, self.model, self.control)
