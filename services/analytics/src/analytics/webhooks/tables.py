"""The webhook tables, on the analytics service's MetaData (one database, one schema).

- ``webhook_subscriptions``: the current state of each subscription (its history is
  the ``webhook-<id>`` stream in the analytics event store, see
  :mod:`analytics.webhooks.audit`). The signing secret lives only here, never in an
  event: events are published to NATS;
- ``webhook_deliveries``: the outbox of deliveries, one row per (subscription, event),
  written by the webhook consumers in the transaction that handles the event.
  ``UNIQUE(subscription_id, event_id)`` makes queueing idempotent; the id orders the
  deliveries of one subscription (each subscription is delivered strictly in that
  order). A delivery being attempted holds a lease (token + expiry) so that two
  replicas never send the same subscription's deliveries at once;
- ``webhook_attempts``: every attempt, with status code, error and duration.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from analytics.adapters.tables import metadata
from mentorship_kit.eventstore.tables import BigIntId, JsonType

_ID: Final = 36


class UtcDateTime(sa.TypeDecorator[datetime]):
    """An aware UTC datetime on both databases (SQLite keeps no zone: it is UTC there)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(
        self,
        value: datetime | None,
        dialect: Dialect,  # noqa: ARG002 - SQLAlchemy's signature
    ) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            msg = "webhook times must be timezone-aware"
            raise ValueError(msg)
        return value.astimezone(UTC)

    def process_result_value(
        self,
        value: datetime | None,
        dialect: Dialect,  # noqa: ARG002 - SQLAlchemy's signature
    ) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


subscriptions = sa.Table(
    "webhook_subscriptions",
    metadata,
    sa.Column("subscription_id", sa.String(_ID), primary_key=True),
    sa.Column("url", sa.Text, nullable=False),
    # JSON list of contract event types, or ["*"] for every type.
    sa.Column("event_types", JsonType, nullable=False),
    sa.Column("description", sa.String(500)),
    sa.Column("secret", sa.String(200), nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    # Since when every attempt failed (null after a success), and how many deliveries
    # in a row were given up: what automatic disabling looks at.
    sa.Column("failing_since", UtcDateTime()),
    sa.Column("failed_deliveries", sa.Integer, nullable=False, server_default="0"),
    sa.Column("disabled_reason", sa.Text),
    sa.CheckConstraint("status IN ('active', 'paused', 'disabled')", name="status"),
    sa.Index("ix_webhook_subscriptions_created", "created_at", "subscription_id"),
)

deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("delivery_id", BigIntId, sa.Identity(always=False), primary_key=True),
    sa.Column("subscription_id", sa.String(_ID), nullable=False),
    sa.Column("event_id", sa.String(64), nullable=False),
    sa.Column("event_type", sa.String(128), nullable=False),
    # The exact body sent on every attempt: the CloudEvent in structured JSON.
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    # When queued, or manually re-queued; and the first attempt since, which starts
    # the retry window.
    sa.Column("queued_at", UtcDateTime(), nullable=False),
    sa.Column("first_attempt_at", UtcDateTime()),
    sa.Column("next_attempt_at", UtcDateTime(), nullable=False),
    sa.Column("completed_at", UtcDateTime()),
    sa.Column("last_status_code", sa.Integer),
    sa.Column("last_error", sa.Text),
    sa.Column("lease_token", sa.String(_ID)),
    sa.Column("lease_until", UtcDateTime()),
    sa.UniqueConstraint("subscription_id", "event_id", name="uq_webhook_deliveries_event"),
    sa.CheckConstraint("status IN ('pending', 'succeeded', 'failed')", name="status"),
    sa.Index("ix_webhook_deliveries_queue", "subscription_id", "status", "delivery_id"),
    sa.Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
)

attempts = sa.Table(
    "webhook_attempts",
    metadata,
    sa.Column("attempt_id", BigIntId, sa.Identity(always=False), primary_key=True),
    sa.Column("delivery_id", sa.BigInteger, nullable=False),
    sa.Column("subscription_id", sa.String(_ID), nullable=False),
    sa.Column("attempted_at", UtcDateTime(), nullable=False),
    sa.Column("duration_ms", sa.Float, nullable=False),
    sa.Column("status_code", sa.Integer),
    sa.Column("error", sa.Text),
    sa.Column("succeeded", sa.Boolean, nullable=False),
    sa.Index("ix_webhook_attempts_delivery", "delivery_id", "attempt_id"),
)
