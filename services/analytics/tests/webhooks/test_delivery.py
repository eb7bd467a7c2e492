"""The delivery worker against a real receiver and a real database (SQLite and PostgreSQL),
on a clock the test moves: order per subscription, retries, giving up, disabling,
pausing and redelivery."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from webhook_receiver import Receiver
from webhook_support import FakeClock, cloud_event

from analytics.adapters.tables import metadata
from analytics.webhooks import audit, repository
from analytics.webhooks import subscriptions as use_cases
from analytics.webhooks.backoff import Backoff
from analytics.webhooks.delivery import DISABLED_ERROR, DeliveryWorker, DisablePolicy
from analytics.webhooks.errors import DeliveryPendingError
from analytics.webhooks.fanout import Wakeup, queue_deliveries
from analytics.webhooks.repository import DeliveryStatus, Status
from analytics.webhooks.signing import new_secret
from analytics.webhooks.transport import Sender, http_client
from mentorship_kit.commands import CommandRunner
from mentorship_kit.db import create_engine
from mentorship_kit.eventstore import EventMetadata, EventStore
from mentorship_kit.testing import wait_until


@dataclass
class Harness:
    store: EventStore
    runner: CommandRunner
    clock: FakeClock
    receiver: Receiver
    wakeup: Wakeup

    async def subscribe(self, name: str, types: tuple[str, ...] = ("*",)) -> str:
        secret = new_secret()
        self.receiver.secrets[name] = secret
        new = use_cases.NewSubscription(self.receiver.url(name), types, None, secret)
        subscription = await self.runner.run(
            use_cases.subscribe(new, now=self.clock()), metadata=EventMetadata(actor="ada")
        )
        return subscription.subscription_id

    async def publish(self, *events) -> None:
        async with self.store.engine.begin() as conn:
            for event in events:
                await queue_deliveries(conn, event, now=self.clock())
        self.wakeup.notify()

    async def deliveries(self, subscription_id: str) -> list[repository.Delivery]:
        async with self.store.engine.connect() as conn:
            rows = await repository.list_deliveries(
                conn, subscription_id, before=None, limit=1000, status=None
            )
        return rows[::-1]

    async def subscription(self, subscription_id: str) -> repository.Subscription:
        async with self.store.engine.connect() as conn:
            found = await repository.get_subscription(conn, subscription_id)
        assert found is not None
        return found

    async def advance_until(self, condition, *, step: float, within: float = 30.0):
        """Move the clock by ``step`` on every poll until ``condition`` holds.

        The clock also signs the requests, and the receiver refuses a timestamp more
        than 5 minutes off its real clock: a poll every 0.25 s keeps the moved clock
        within ``within / 0.25 * step`` (120 s) of it per call, even on a machine slow
        enough to use the whole deadline, and gives the worker time to act on each step.
        """

        async def moved():
            if await condition():
                return True
            self.clock.advance(step)
            self.wakeup.notify()
            return False

        await wait_until(moved, timeout=within, interval=0.25)


@contextlib.asynccontextmanager
async def harness(
    database_url: str,
    *,
    window: float = 30.0,
    disable: DisablePolicy | None = None,
    concurrency: int = 4,
) -> AsyncIterator[Harness]:
    engine = create_engine(database_url)
    store = EventStore(engine, metadata=metadata)
    await store.create_schema()
    clock = FakeClock()
    wakeup = Wakeup()
    worker = DeliveryWorker(
        engine,
        store,
        Sender(http_client(dev_mode=True, timeout=5), allowed_hosts=[], dev_mode=True, timeout=5),
        backoff=Backoff(initial=1.0, maximum=4.0, jitter=0.0, window=window),
        disable=disable or DisablePolicy(failing_for=timedelta(days=5), failed_deliveries=50),
        wakeup=wakeup,
        concurrency=concurrency,
        poll_seconds=0.05,
        lease_seconds=30,
        clock=clock,
    )
    async with Receiver() as receiver:
        task = asyncio.create_task(worker.run())
        try:
            yield Harness(store, CommandRunner(store, service="analytics"), clock, receiver, wakeup)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await store.close()
            await engine.dispose()


def ids(received) -> list[str]:
    return [r.webhook_id for r in received]


async def test_each_subscription_gets_its_events_in_order_and_a_failing_one_blocks_only_itself(
    database_url,
):
    async with harness(database_url) as h:
        failing = await h.subscribe("failing", ("PairFormed", "PairEnded"))
        await h.subscribe("healthy")
        only_ended = await h.subscribe("ended", ("PairEnded",))
        h.receiver.fail_with["failing"] = 503
        events = [
            cloud_event("PairFormed" if n % 2 else "PairEnded", version=n) for n in range(1, 7)
        ]
        await h.publish(*events)

        # Each subscription is delivered independently: wait for every one to get as far
        # as it can (the failing one to its first refused attempt) before comparing.
        await wait_until(
            lambda: (
                len(h.receiver.accepted("healthy")) == 6
                and len(h.receiver.accepted("ended")) == 3
                and any(r.name == "failing" for r in h.receiver.received)
            ),
            timeout=30,
        )
        assert ids(h.receiver.accepted("healthy")) == [e.id for e in events]
        assert ids(h.receiver.accepted("ended")) == [
            e.id for e in events if e.eventtype == "PairEnded"
        ]
        # The failing subscription only ever tried its first delivery.
        assert {r.webhook_id for r in h.receiver.received if r.name == "failing"} == {events[0].id}

        async def two_failures() -> bool:
            return (await h.deliveries(failing))[0].attempts >= 2

        await h.advance_until(two_failures, step=1.0)
        h.receiver.fail_with.pop("failing")

        async def all_delivered() -> bool:
            return len(h.receiver.accepted("failing")) == 6

        await h.advance_until(all_delivered, step=1.0)
        assert ids(h.receiver.accepted("failing")) == [e.id for e in events]
        first = (await h.deliveries(failing))[0]
        assert first.status is DeliveryStatus.SUCCEEDED
        async with h.store.engine.connect() as conn:
            log = (await repository.attempts_of(conn, [first.delivery_id]))[first.delivery_id]
        assert [a.status_code for a in log][-1] == 204
        assert all(a.status_code == 503 and a.error == "HTTP 503: busy" for a in log[:-1])
        assert len(log) >= 3
        assert (await h.subscription(failing)).failing_since is None
        assert (await h.subscription(only_ended)).status is Status.ACTIVE
        assert h.receiver.rejected == []
        assert {r.content_type for r in h.receiver.received} == {"application/cloudevents+json"}
        assert h.receiver.accepted("healthy")[0].event["data"] == events[0].data


async def test_a_delivery_is_given_up_after_its_window_and_the_next_gets_a_window_of_its_own(
    database_url,
):
    async with harness(database_url, window=3.0) as h:
        sid = await h.subscribe("a")
        h.receiver.fail_with["a"] = 500
        first, second = cloud_event(version=1), cloud_event(version=2)
        await h.publish(first, second)

        async def first_given_up() -> bool:
            return (await h.deliveries(sid))[0].status is DeliveryStatus.FAILED

        await h.advance_until(first_given_up, step=1.0)

        async def second_failed() -> bool:
            return (await h.deliveries(sid))[1].attempts >= 1

        await wait_until(second_failed, timeout=30)
        # It waited behind the first for most of a window (counted from its queueing, the
        # window would end before its retry), yet it keeps a window of its own.
        waited = (await h.deliveries(sid))[1]
        assert waited.status is DeliveryStatus.PENDING
        assert waited.first_attempt_at - waited.queued_at >= timedelta(seconds=3)
        h.receiver.fail_with.pop("a")

        async def second_delivered() -> bool:
            return (await h.deliveries(sid))[1].status is DeliveryStatus.SUCCEEDED

        await h.advance_until(second_delivered, step=0.5)
        given_up, delivered = await h.deliveries(sid)
        assert given_up.last_status_code == 500
        assert 2 <= given_up.attempts <= 6
        assert delivered.status is DeliveryStatus.SUCCEEDED
        assert ids(h.receiver.accepted("a")) == [second.id]
        subscription = await h.subscription(sid)
        assert (subscription.failed_deliveries, subscription.failing_since) == (0, None)


async def test_sustained_failure_disables_the_subscription_and_records_why(database_url):
    policy = DisablePolicy(failing_for=timedelta(hours=1), failed_deliveries=2)
    async with harness(database_url, window=3.0, disable=policy) as h:
        sid = await h.subscribe("down")
        other = await h.subscribe("up")
        h.receiver.fail_with["down"] = 502
        await h.publish(*(cloud_event(version=n) for n in range(1, 5)))

        async def disabled() -> bool:
            return (await h.subscription(sid)).status is Status.DISABLED

        await h.advance_until(disabled, step=1.0)
        subscription = await h.subscription(sid)
        assert subscription.disabled_reason == "2 deliveries in a row failed"
        rows = await h.deliveries(sid)
        assert [d.status for d in rows] == [DeliveryStatus.FAILED] * 4
        assert [d.last_error for d in rows[2:]] == [DISABLED_ERROR] * 2
        async with h.store.engine.connect() as conn:
            trail = await audit.history(h.store, conn, sid, after_version=0, limit=10)
        assert [(e.event_type, e.actor) for e in trail] == [
            ("WebhookSubscribed", "ada"),
            ("WebhookDisabled", "system"),
        ]
        assert trail[1].data["reason"] == "2 deliveries in a row failed"
        assert trail[1].data["pending_given_up"] == 2
        # A disabled subscription gets no new deliveries; the other one is unaffected.
        await h.publish(cloud_event(version=5))
        assert len(await h.deliveries(sid)) == 4
        await wait_until(lambda: len(h.receiver.accepted("up")) == 5, timeout=30)
        assert (await h.subscription(other)).status is Status.ACTIVE


async def test_a_paused_subscription_queues_and_sends_everything_when_resumed(database_url):
    async with harness(database_url) as h:
        sid = await h.subscribe("a")
        await h.runner.run(
            use_cases.change(sid, use_cases.Changes(status=Status.PAUSED), now=h.clock())
        )
        events = [cloud_event(version=n) for n in range(1, 4)]
        await h.publish(*events)
        assert [d.status for d in await h.deliveries(sid)] == [DeliveryStatus.PENDING] * 3
        async with h.store.engine.connect() as conn:
            assert await repository.queue_heads(conn, exclude=()) == []  # nothing to send
        assert h.receiver.received == []
        await h.runner.run(
            use_cases.change(sid, use_cases.Changes(status=Status.ACTIVE), now=h.clock())
        )
        h.wakeup.notify()
        await wait_until(lambda: len(h.receiver.accepted("a")) == 3, timeout=30)
        assert ids(h.receiver.accepted("a")) == [e.id for e in events]


async def test_redelivery_sends_the_same_webhook_id_again_first_in_line(database_url):
    async with harness(database_url) as h:
        sid = await h.subscribe("a")
        first = cloud_event(version=1)
        await h.publish(first)
        await wait_until(lambda: len(h.receiver.accepted("a")) == 1, timeout=30)
        delivered = (await h.deliveries(sid))[0]
        h.receiver.fail_with["a"] = 503
        await h.publish(cloud_event(version=2))
        second = (await h.deliveries(sid))[1]
        with pytest.raises(DeliveryPendingError, match="still pending"):
            await h.runner.run(use_cases.redeliver(sid, second.delivery_id, now=h.clock()))

        async def second_failed_once() -> bool:
            return (await h.deliveries(sid))[1].attempts == 1

        await wait_until(second_failed_once, timeout=30)
        h.receiver.fail_with.pop("a")
        await h.runner.run(use_cases.redeliver(sid, delivered.delivery_id, now=h.clock()))
        h.wakeup.notify()

        async def all_succeeded() -> bool:
            rows = await h.deliveries(sid)
            return all(d.status is DeliveryStatus.SUCCEEDED and d.attempts for d in rows)

        await h.advance_until(all_succeeded, step=1.0)
        assert len(h.receiver.accepted("a")) == 3
        received = h.receiver.accepted("a")
        assert received[1].webhook_id == first.id  # the redelivered one went next
        assert [r.webhook_id for r in h.receiver.unique("a")] == [first.id, received[2].webhook_id]
        async with h.store.engine.connect() as conn:
            trail = await audit.history(h.store, conn, sid, after_version=0, limit=10)
        assert [e.event_type for e in trail][-1] == "WebhookRedeliveryRequested"
        assert trail[-1].data["delivery_id"] == delivered.delivery_id
