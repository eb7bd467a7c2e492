"""Request and response bodies of the webhook API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from analytics.webhooks.audit import AuditEntry
from analytics.webhooks.repository import Attempt, Delivery, DeliveryStatus, Subscription
from analytics.webhooks.targets import MAX_URL_LENGTH

EventType = Annotated[str, StringConstraints(min_length=1, max_length=128)]
EventTypes = Annotated[
    list[EventType],
    Field(
        min_length=1,
        max_length=200,
        description='Contract event types (e.g. "PairFormed"), or ["*"] for every type.',
        examples=[["PairFormed", "PairEnded"]],
    ),
]
Url = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_URL_LENGTH,
        description="Where deliveries are POSTed: https, on the allow-list.",
        examples=["https://hooks.example.com/mentorship"],
    ),
]
Description = Annotated[str, Field(max_length=500)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class CreateWebhook(_In):
    url: Url
    event_types: EventTypes
    description: Description | None = None


class UpdateWebhook(_In):
    """Only the fields given change; ``url``, ``event_types`` and ``status`` null or
    absent leave them as they are, ``description: null`` clears it."""

    url: Url | None = None
    event_types: EventTypes | None = None
    description: Description | None = None
    status: Literal["active", "paused"] | None = Field(
        default=None, description="paused: deliveries are queued but not sent; active: resume."
    )


class WebhookOut(_Out):
    webhook_id: str
    url: str
    event_types: list[str]
    description: str | None
    status: Literal["active", "paused", "disabled"]
    created_at: datetime
    updated_at: datetime
    failing_since: datetime | None = Field(
        description="Since when every attempt failed; null after a success."
    )
    failed_deliveries: int = Field(description="Deliveries given up in a row.")
    disabled_reason: str | None = Field(description="Why it was disabled automatically.")

    @classmethod
    def of(cls, subscription: Subscription) -> WebhookOut:
        return cls(**_webhook_fields(subscription))


class CreatedWebhookOut(WebhookOut):
    secret: str = Field(
        description="The signing secret (Standard Webhooks, whsec_...). Shown only here."
    )

    @classmethod
    def created(cls, subscription: Subscription) -> CreatedWebhookOut:
        return cls(**_webhook_fields(subscription), secret=subscription.secret)


def _webhook_fields(subscription: Subscription) -> dict[str, Any]:
    return {
        "webhook_id": subscription.subscription_id,
        "url": subscription.url,
        "event_types": list(subscription.event_types),
        "description": subscription.description,
        "status": subscription.status.value,
        "created_at": subscription.created_at,
        "updated_at": subscription.updated_at,
        "failing_since": subscription.failing_since,
        "failed_deliveries": subscription.failed_deliveries,
        "disabled_reason": subscription.disabled_reason,
    }


class WebhookPage(_Out):
    items: list[WebhookOut]
    next_cursor: str | None = None


class AttemptOut(_Out):
    attempted_at: datetime
    status_code: int | None = Field(description="The receiver's answer; null when none came.")
    error: str | None
    duration_ms: float
    succeeded: bool

    @classmethod
    def of(cls, attempt: Attempt) -> AttemptOut:
        return cls(
            attempted_at=attempt.attempted_at,
            status_code=attempt.status_code,
            error=attempt.error,
            duration_ms=attempt.duration_ms,
            succeeded=attempt.succeeded,
        )


class DeliveryOut(_Out):
    delivery_id: int
    event_id: str = Field(description="Sent as webhook-id, the same on every attempt.")
    event_type: str
    status: Literal["pending", "succeeded", "failed"]
    attempts: int = Field(description="Attempts since it was (re)queued.")
    created_at: datetime
    queued_at: datetime = Field(description="When it was queued, or manually re-queued.")
    first_attempt_at: datetime | None = Field(
        description="Its first attempt since then: the start of its retry window."
    )
    next_attempt_at: datetime | None = Field(description="Null unless pending.")
    completed_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    attempt_log: list[AttemptOut] = Field(description="Every attempt, oldest first.")

    @classmethod
    def of(cls, delivery: Delivery, attempts: list[Attempt]) -> DeliveryOut:
        return cls(**_delivery_fields(delivery, attempts))


class DeliveryDetailOut(DeliveryOut):
    event: dict[str, Any] = Field(description="The body sent: the CloudEvent (structured JSON).")

    @classmethod
    def detailed(cls, delivery: Delivery, attempts: list[Attempt]) -> DeliveryDetailOut:
        return cls(**_delivery_fields(delivery, attempts), event=orjson.loads(delivery.body))


def _delivery_fields(delivery: Delivery, attempts: list[Attempt]) -> dict[str, Any]:
    pending = delivery.status is DeliveryStatus.PENDING
    return {
        "delivery_id": delivery.delivery_id,
        "event_id": delivery.event_id,
        "event_type": delivery.event_type,
        "status": delivery.status.value,
        "attempts": delivery.attempts,
        "created_at": delivery.created_at,
        "queued_at": delivery.queued_at,
        "first_attempt_at": delivery.first_attempt_at,
        "next_attempt_at": delivery.next_attempt_at if pending else None,
        "completed_at": delivery.completed_at,
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "attempt_log": [AttemptOut.of(a) for a in attempts],
    }


class DeliveryPage(_Out):
    items: list[DeliveryOut]
    next_cursor: str | None = None


class AuditEntryOut(_Out):
    event_id: str
    event_type: str = Field(
        description="WebhookSubscribed, WebhookChanged, WebhookPaused, WebhookResumed, "
        "WebhookDisabled (automatic, actor 'system'), WebhookDeleted, "
        "WebhookRedeliveryRequested."
    )
    at: datetime
    version: int
    actor: str | None
    actor_role: str | None
    data: dict[str, Any]

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditEntryOut:
        return cls(
            event_id=entry.event_id,
            event_type=entry.event_type,
            at=entry.at,
            version=entry.version,
            actor=entry.actor,
            actor_role=entry.actor_role,
            data=dict(entry.data),
        )


class AuditPage(_Out):
    items: list[AuditEntryOut]
    next_cursor: str | None = None
