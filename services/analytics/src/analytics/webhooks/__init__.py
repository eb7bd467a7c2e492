"""Outbound webhooks: every platform event, signed, to subscribed HTTPS endpoints.

Served by the analytics service, which consumes every stream. The parts:

- :mod:`.api` — ``/v1/webhooks``: subscriptions, delivery log, redelivery, audit;
- :mod:`.fanout` — one durable consumer per source stream queues deliveries in its
  transaction (an outbox of deliveries), apart from the read models' consumers;
- :mod:`.delivery` — the worker that sends them, in order per subscription, with
  retries, backoff and automatic disabling;
- :mod:`.targets` / :mod:`.transport` — the allow-list and address rules;
- :mod:`.signing` — Standard Webhooks signatures; :mod:`.audit` — the audit stream.

:class:`Webhooks` is what the service's composition root adds to its ServiceSpec.
See docs/integrations/webhooks.md for the integrator's view.
"""

from __future__ import annotations

from fastapi import APIRouter

from analytics.config import SOURCES
from analytics.webhooks.api import webhook_router
from analytics.webhooks.delivery import DeliveryWorkerFactory
from analytics.webhooks.fanout import Clock, Wakeup, WebhookConsumer, utc_now
from mentorship_kit.app import WorkerFactory


class Webhooks:
    """The webhook feature of one app: its router and its workers, sharing a wake-up."""

    def __init__(self, clock: Clock = utc_now) -> None:
        wakeup = Wakeup()
        self.router: APIRouter = webhook_router(wakeup, clock)
        self.workers: list[WorkerFactory] = [
            *(WebhookConsumer(source, wakeup, clock) for source in SOURCES),
            DeliveryWorkerFactory(wakeup, clock),
        ]


__all__ = ["Webhooks"]
