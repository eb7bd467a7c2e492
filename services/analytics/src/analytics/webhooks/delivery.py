"""The delivery worker: sends queued deliveries, in order per subscription.

Each pass looks at the head of every active subscription's queue (its oldest pending
delivery) and starts the due ones, up to ``WEBHOOK_CONCURRENCY`` subscriptions at a
time; a subscription has at most one attempt in flight, and its next delivery waits
until the head succeeded or was given up — strict order per subscription, while a
slow or dead receiver holds back only its own subscription. An attempt holds a lease
on its delivery (so that replicas never send one subscription's deliveries at once);
a process that dies mid-attempt leaves a lease that expires, and the delivery is tried
again: delivery is at least once, and receivers drop duplicates by ``webhook-id``.

A failed attempt is retried with exponential backoff and jitter
(:class:`~analytics.webhooks.backoff.Backoff`) until its retry window, which starts at
its first attempt, ends; then it is marked failed and the next delivery goes. A
subscription whose attempts all failed for ``WEBHOOK_DISABLE_AFTER_SECONDS``, or that
had ``WEBHOOK_DISABLE_AFTER_FAILED_DELIVERIES`` deliveries in a row given up, is disabled:
its pending deliveries are given up, no new ones are queued, and a ``WebhookDisabled``
event records why in its audit stream. The worker wakes when the consumers commit new
deliveries or the API re-queues one, when a retry comes due, and every
``WEBHOOK_POLL_SECONDS`` (deliveries queued by other replicas).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import structlog
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from analytics.webhooks import audit, repository
from analytics.webhooks.backoff import Backoff
from analytics.webhooks.fanout import SERVICE, Clock, Wakeup, utc_now
from analytics.webhooks.metrics import ATTEMPT_SECONDS, ATTEMPTS, BACKLOG, DELIVERIES, DISABLED
from analytics.webhooks.repository import Delivery, DeliveryStatus
from analytics.webhooks.repository import Status as SubscriptionStatus
from analytics.webhooks.settings import webhook_settings
from analytics.webhooks.signing import signed_headers
from analytics.webhooks.transport import AttemptResult, Sender, http_client
from mentorship_kit.context import ServiceContext
from mentorship_kit.eventstore import EventMetadata, EventStore
from mentorship_kit.supervisor import raise_if_cancelling

log = structlog.get_logger(__name__)
tracer = trace.get_tracer(__name__)
_propagator: Final = TraceContextTextMapPropagator()

CONTENT_TYPE: Final = "application/cloudevents+json"
# A lease outlives the attempt it covers by this much (the attempt itself is bounded
# by the timeout), so a slow database write after the answer does not lose it.
LEASE_MARGIN_SECONDS: Final = 30.0
BACKLOG_REFRESH_SECONDS: Final = 5.0
_RELEASE_SECONDS: Final = 2.0
DISABLED_ERROR: Final = "given up: the subscription was disabled after sustained failure"


@dataclass(frozen=True)
class DisablePolicy:
    """When sustained failure disables a subscription."""

    failing_for: timedelta
    failed_deliveries: int

    def reason(
        self, *, failing_since: datetime | None, failed_deliveries: int, now: datetime
    ) -> str | None:
        if failed_deliveries >= self.failed_deliveries:
            return f"{failed_deliveries} deliveries in a row failed"
        if failing_since is not None and now - failing_since >= self.failing_for:
            return f"every attempt failed since {failing_since.isoformat()}"
        return None


class DeliveryWorker:
    """A supervised worker; see the module docstring."""

    def __init__(
        self,
        engine: AsyncEngine,
        store: EventStore,
        sender: Sender,
        *,
        backoff: Backoff,
        disable: DisablePolicy,
        wakeup: Wakeup,
        concurrency: int,
        poll_seconds: float,
        lease_seconds: float,
        clock: Clock = utc_now,
    ) -> None:
        self.engine = engine
        self.store = store
        self.sender = sender
        self.backoff = backoff
        self.disable = disable
        self.wakeup = wakeup
        self.concurrency = concurrency
        self.poll_seconds = poll_seconds
        self.lease = timedelta(seconds=lease_seconds)
        self.clock = clock
        self._in_flight: dict[str, asyncio.Task[None]] = {}
        self._gauged: set[str] = set()
        self._backlog_due = 0.0

    async def run(self) -> None:
        log.info("webhooks.delivery_worker_started", concurrency=self.concurrency)
        try:
            while True:
                raise_if_cancelling()
                await self._refresh_backlog()
                wait = await self._start_due()
                await self._wait(wait)
        finally:
            tasks = list(self._in_flight.values())
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._in_flight.clear()
            await self.sender.client.aclose()

    async def _start_due(self) -> float:
        """Start the due heads; returns how long to wait before looking again."""
        async with self.engine.connect() as conn:
            heads = await repository.queue_heads(conn, exclude=self._in_flight)
        now = self.clock()
        wait = self.poll_seconds
        for head in heads:
            due_at = max(head.next_attempt_at, head.lease_until or head.next_attempt_at)
            if due_at > now:
                wait = min(wait, (due_at - now).total_seconds())
            elif len(self._in_flight) < self.concurrency:
                self._in_flight[head.subscription_id] = asyncio.create_task(
                    self._deliver(head.delivery_id), name=f"webhook-{head.subscription_id}"
                )
        return max(wait, 0.0)

    async def _wait(self, timeout: float) -> None:  # noqa: ASYNC109 - a poll period
        """Until woken, an attempt finished, or ``timeout`` passed."""
        waker = asyncio.create_task(self.wakeup.wait(timeout))
        try:
            await asyncio.wait(
                {waker, *self._in_flight.values()}, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            waker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waker
        for subscription_id, task in list(self._in_flight.items()):
            if task.done():
                del self._in_flight[subscription_id]
                if not task.cancelled() and (error := task.exception()) is not None:
                    log.error(
                        "webhooks.attempt_crashed",
                        subscription_id=subscription_id,
                        error=repr(error),
                        exc_info=error,
                    )

    # -- one attempt ---------------------------------------------------------------

    async def _deliver(self, delivery_id: int) -> None:
        token = str(uuid.uuid4())
        now = self.clock()
        async with self.engine.begin() as conn:
            head = await repository.claim(
                conn, delivery_id, token=token, now=now, until=now + self.lease
            )
            if head is None:
                return
            subscription = await repository.get_subscription(conn, head.subscription_id)
        if subscription is None or subscription.status is not SubscriptionStatus.ACTIVE:
            await self._release(head, token)
            return
        try:
            at = self.clock()
            headers = {
                "content-type": CONTENT_TYPE,
                **signed_headers(subscription.secret, msg_id=head.event_id, at=at, body=head.body),
            }
            with tracer.start_as_current_span(
                "webhook deliver",
                kind=SpanKind.CLIENT,
                attributes={
                    "mentorship.webhook.subscription_id": head.subscription_id,
                    "mentorship.webhook.delivery_id": head.delivery_id,
                    "mentorship.webhook.event_type": head.event_type,
                    "mentorship.webhook.attempt": head.attempts + 1,
                },
            ) as span:
                _propagator.inject(headers)
                started = time.perf_counter()
                result = await self.sender.send(subscription.url, headers, head.body)
                elapsed = time.perf_counter() - started
                if result.status_code is not None:
                    span.set_attribute("http.response.status_code", result.status_code)
                if not result.succeeded:
                    span.set_status(Status(StatusCode.ERROR, result.error or "failed"))
        except asyncio.CancelledError:
            await self._release(head, token)
            raise
        ATTEMPTS.labels(SERVICE, result.outcome).inc()
        ATTEMPT_SECONDS.labels(SERVICE).observe(elapsed)
        await self._record(head, token, at, elapsed, result)

    async def _release(self, head: Delivery, token: str) -> None:
        """Give the lease back at once (best effort: it expires anyway)."""
        try:
            async with asyncio.timeout(_RELEASE_SECONDS), self.engine.begin() as conn:
                await repository.settle(conn, head.delivery_id, token=token, values={})
        except Exception as exc:  # noqa: BLE001 - the lease expires by itself
            log.debug("webhooks.release_failed", delivery_id=head.delivery_id, error=repr(exc))

    async def _record(
        self, head: Delivery, token: str, at: datetime, elapsed: float, result: AttemptResult
    ) -> None:
        now = self.clock()
        attempts = head.attempts + 1
        outcome: str | None = None
        disabled: tuple[str, int] | None = None
        async with self.engine.begin() as conn:
            subscription = await repository.get_subscription(
                conn, head.subscription_id, for_update=True
            )
            if subscription is None:  # deleted meanwhile, with its log
                return
            await repository.record_attempt(
                conn,
                {
                    "delivery_id": head.delivery_id,
                    "subscription_id": head.subscription_id,
                    "attempted_at": at,
                    "duration_ms": round(elapsed * 1000, 3),
                    "status_code": result.status_code,
                    "error": result.error,
                    "succeeded": result.succeeded,
                },
            )
            first_attempt = head.first_attempt_at or at
            values: dict[str, Any] = {
                "first_attempt_at": first_attempt,
                "attempts": attempts,
                "last_status_code": result.status_code,
                "last_error": result.error,
            }
            if result.succeeded:
                values |= {"status": DeliveryStatus.SUCCEEDED.value, "completed_at": now}
                outcome = DeliveryStatus.SUCCEEDED.value
            elif (
                retry_at := self.backoff.next_attempt(
                    first_attempt=first_attempt, now=now, retry=attempts
                )
            ) is not None:
                values["next_attempt_at"] = retry_at
            else:
                values |= {"status": DeliveryStatus.FAILED.value, "completed_at": now}
                outcome = DeliveryStatus.FAILED.value
            if not await repository.settle(conn, head.delivery_id, token=token, values=values):
                # The lease expired and another attempt took over: it decides the state.
                return
            disabled = await self._account(conn, subscription, at, outcome, now)
        if outcome is not None:
            DELIVERIES.labels(SERVICE, outcome).inc()
            emit = log.info if outcome == DeliveryStatus.SUCCEEDED.value else log.warning
            emit(
                "webhooks.delivery_finished",
                subscription_id=head.subscription_id,
                delivery_id=head.delivery_id,
                event_id=head.event_id,
                outcome=outcome,
                attempts=attempts,
                error=result.error,
            )
        if disabled is not None:
            reason, given_up = disabled
            DISABLED.labels(SERVICE).inc()
            DELIVERIES.labels(SERVICE, DeliveryStatus.FAILED.value).inc(given_up)
            await self.store.notify()
            log.warning(
                "webhooks.subscription_disabled",
                subscription_id=head.subscription_id,
                reason=reason,
                pending_given_up=given_up,
            )

    async def _account(
        self,
        conn: AsyncConnection,
        subscription: repository.Subscription,
        at: datetime,
        outcome: str | None,
        now: datetime,
    ) -> tuple[str, int] | None:
        """Keep the subscription's failure record; disable it when the policy says so.
        Returns (reason, pending deliveries given up) when it was disabled."""
        sid = subscription.subscription_id
        if outcome == DeliveryStatus.SUCCEEDED.value:
            if subscription.failing_since is not None or subscription.failed_deliveries:
                await repository.update_subscription(
                    conn, sid, {"failing_since": None, "failed_deliveries": 0}
                )
            return None
        failing_since = subscription.failing_since or at
        failed = subscription.failed_deliveries + (outcome == DeliveryStatus.FAILED.value)
        changes: dict[str, Any] = {"failing_since": failing_since, "failed_deliveries": failed}
        reason = self.disable.reason(failing_since=failing_since, failed_deliveries=failed, now=now)
        if reason is None or subscription.status is not SubscriptionStatus.ACTIVE:
            await repository.update_subscription(conn, sid, changes)
            return None
        changes |= {
            "status": SubscriptionStatus.DISABLED.value,
            "disabled_reason": reason,
            "updated_at": now,
        }
        await repository.update_subscription(conn, sid, changes)
        given_up = await repository.fail_pending(conn, sid, now=now, error=DISABLED_ERROR)
        await audit.record(
            self.store,
            conn,
            sid,
            audit.AuditEvent.DISABLED,
            data={
                "reason": reason,
                "failing_since": failing_since.isoformat(),
                "failed_deliveries": failed,
                "pending_given_up": given_up,
            },
            metadata=EventMetadata(actor=audit.SYSTEM_ACTOR),
        )
        return reason, given_up

    # -- gauges --------------------------------------------------------------------

    async def _refresh_backlog(self) -> None:
        now = time.monotonic()
        if now < self._backlog_due:
            return
        self._backlog_due = now + BACKLOG_REFRESH_SECONDS
        async with self.engine.connect() as conn:
            counts = await repository.backlog(conn)
        for subscription_id, count in counts.items():
            BACKLOG.labels(SERVICE, subscription_id).set(count)
        for gone in self._gauged - counts.keys():
            BACKLOG.remove(SERVICE, gone)
        self._gauged = set(counts)


class DeliveryWorkerFactory:
    """Builds the delivery worker of a process (a ServiceSpec worker)."""

    def __init__(self, wakeup: Wakeup, clock: Clock = utc_now) -> None:
        self.wakeup = wakeup
        self.clock = clock
        self.__qualname__ = "webhooks-delivery"

    def __call__(self, context: ServiceContext) -> DeliveryWorker:
        settings = webhook_settings(context.settings)
        sender = Sender(
            http_client(dev_mode=settings.dev_mode, timeout=settings.webhook_timeout_seconds),
            allowed_hosts=settings.webhook_allowed_hosts,
            dev_mode=settings.dev_mode,
            timeout=settings.webhook_timeout_seconds,
        )
        return DeliveryWorker(
            context.engine,
            context.store,
            sender,
            backoff=Backoff(
                initial=settings.webhook_backoff_initial_seconds,
                maximum=settings.webhook_backoff_max_seconds,
                jitter=settings.webhook_backoff_jitter,
                window=settings.webhook_retry_window_seconds,
            ),
            disable=DisablePolicy(
                failing_for=timedelta(seconds=settings.webhook_disable_after_seconds),
                failed_deliveries=settings.webhook_disable_after_failed_deliveries,
            ),
            wakeup=self.wakeup,
            concurrency=settings.webhook_concurrency,
            poll_seconds=settings.webhook_poll_seconds,
            lease_seconds=settings.webhook_timeout_seconds + LEASE_MARGIN_SECONDS,
            clock=self.clock,
        )
