"""The webhook consumers: every event of a source stream becomes queued deliveries.

One durable JetStream consumer per source stream (``webhooks-enrollment``,
``webhooks-matching``, ``webhooks-sessions``), separate from the read models' own, so
that webhooks never hold the read models back and the read models never hold webhooks
back. Its handler runs inside the consumer's transaction (the kit's exactly-once in
effect) and writes one pending delivery per active or paused subscription that wants
the event type — an outbox of deliveries: once the event is acknowledged its
deliveries are committed, and nothing is lost when a receiver, NATS or this process
goes down.

A fresh durable consumer starts at the beginning of its stream (the kit's version
checks need every event of an aggregate); there are no deliveries to queue for events
handled before a subscription existed, so a subscription receives the events handled
after it was created.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final

from sqlalchemy.ext.asyncio import AsyncConnection

from analytics.config import SOURCES
from analytics.webhooks import repository
from analytics.webhooks.repository import DeliveryStatus
from analytics.webhooks.settings import webhook_settings
from mentorship_contracts import CloudEvent
from mentorship_kit.consumer import ConsumerRuntime
from mentorship_kit.context import ServiceContext

SERVICE: Final = "analytics"
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def consumer_name(source: str) -> str:
    return f"webhooks-{source}"


def delivery_body(event: CloudEvent) -> str:
    """The CloudEvent in structured JSON mode, absent attributes left out."""
    return event.model_dump_json(exclude_none=True)


async def queue_deliveries(conn: AsyncConnection, event: CloudEvent, *, now: datetime) -> int:
    """Queue ``event`` for every subscription that wants it; returns how many."""
    wanting = [
        s for s in await repository.receiving_subscriptions(conn) if s.wants(event.eventtype)
    ]
    if not wanting:
        return 0
    body = delivery_body(event)
    await repository.queue(
        conn,
        [
            {
                "subscription_id": subscription.subscription_id,
                "event_id": event.id,
                "event_type": event.eventtype,
                "body": body,
                "status": DeliveryStatus.PENDING.value,
                "attempts": 0,
                "created_at": now,
                "queued_at": now,
                "next_attempt_at": now,
            }
            for subscription in wanting
        ],
    )
    return len(wanting)


class Wakeup:
    """Wakes the delivery worker of this process when deliveries became due.

    The event is made on first wait, in the loop the worker runs in; a notification
    before that is not needed (the worker looks at the queue when it starts).
    """

    def __init__(self) -> None:
        self._event: asyncio.Event | None = None

    def notify(self) -> None:
        if self._event is not None:
            self._event.set()

    async def wait(self, timeout: float) -> None:  # noqa: ASYNC109 - a poll period, not a deadline for one call
        if self._event is None:
            self._event = asyncio.Event()
        try:
            async with asyncio.timeout(timeout):
                await self._event.wait()
        except TimeoutError:
            return
        finally:
            self._event.clear()


class WebhookConsumer:
    """The factory of one source stream's webhook consumer (a ServiceSpec worker)."""

    def __init__(self, source: str, wakeup: Wakeup, clock: Clock = utc_now) -> None:
        if source not in SOURCES:
            msg = f"unknown source {source!r}"
            raise ValueError(msg)
        self.source = source
        self.wakeup = wakeup
        self.clock = clock
        self.__qualname__ = consumer_name(source)

    def __call__(self, context: ServiceContext) -> ConsumerRuntime:
        settings = webhook_settings(context.settings)

        async def handle(conn: AsyncConnection, event: CloudEvent) -> None:
            await queue_deliveries(conn, event, now=self.clock())

        async def after_commit(_: CloudEvent) -> None:
            self.wakeup.notify()

        return ConsumerRuntime(
            context.engine,
            context.js,
            consumer=consumer_name(self.source),
            source_service=self.source,
            handler=handle,
            service=SERVICE,
            batch_size=settings.analytics_consumer_batch_size,
            fetch_timeout=settings.analytics_consumer_fetch_seconds,
            ack_wait=settings.analytics_consumer_ack_wait_seconds,
            max_deliver=settings.analytics_consumer_max_deliver,
            backoff=settings.analytics_consumer_backoff_seconds,
            after_commit=after_commit,
        )
