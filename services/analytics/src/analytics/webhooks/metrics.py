"""Prometheus metrics of the outbound webhooks (default registry, defined once)."""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Gauge, Histogram

QUEUED: Final = Counter(
    "mentorship_webhook_deliveries_queued_total",
    "Deliveries queued by the webhook consumers (one per matching subscription and event).",
    ["service"],
)
DELIVERIES: Final = Counter(
    "mentorship_webhook_deliveries_total",
    "Deliveries finished, by outcome: succeeded | failed (retries exhausted, or given up "
    "when the subscription was disabled).",
    ["service", "outcome"],
)
ATTEMPTS: Final = Counter(
    "mentorship_webhook_attempts_total",
    "Delivery attempts, by outcome: success | http_error (a non-2xx answer) | "
    "transport_error (no answer) | refused (target not allowed).",
    ["service", "outcome"],
)
ATTEMPT_SECONDS: Final = Histogram(
    "mentorship_webhook_attempt_seconds",
    "Time of one delivery attempt, from connecting to the response's status.",
    ["service"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
BACKLOG: Final = Gauge(
    "mentorship_webhook_backlog",
    "Pending deliveries per subscription.",
    ["service", "subscription"],
)
DISABLED: Final = Counter(
    "mentorship_webhook_subscriptions_disabled_total",
    "Subscriptions disabled automatically after sustained failure.",
    ["service"],
)
