"""Errors of the webhook use cases; :mod:`analytics.webhooks.api` maps them to problems."""

from __future__ import annotations


class SubscriptionNotFoundError(LookupError):
    def __init__(self, subscription_id: str) -> None:
        super().__init__(f"there is no webhook subscription {subscription_id!r}")
        self.subscription_id = subscription_id


class DeliveryNotFoundError(LookupError):
    def __init__(self, subscription_id: str, delivery_id: int) -> None:
        super().__init__(
            f"subscription {subscription_id!r} has no delivery {delivery_id}",
        )
        self.delivery_id = delivery_id


class UnknownEventTypeError(ValueError):
    """An event type no contract defines."""

    def __init__(self, event_type: str, index: int) -> None:
        super().__init__(f"unknown event type {event_type!r}")
        self.event_type = event_type
        self.index = index


class DeliveryPendingError(RuntimeError):
    """A delivery that is still queued cannot be queued again."""

    def __init__(self, delivery_id: int) -> None:
        super().__init__(f"delivery {delivery_id} is still pending: it will be attempted")
        self.delivery_id = delivery_id
