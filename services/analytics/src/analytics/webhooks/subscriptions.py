"""The webhook use cases: subscribe, change, delete, re-queue a delivery.

Each runs in one transaction of the service's :class:`~mentorship_kit.commands.CommandRunner`
(so that POSTs get Idempotency-Key handling and every change records its actor):
the subscription table is changed and the change appended to the subscription's audit
stream together (see :mod:`analytics.webhooks.audit`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from analytics.webhooks import audit, repository
from analytics.webhooks.errors import (
    DeliveryNotFoundError,
    DeliveryPendingError,
    SubscriptionNotFoundError,
    UnknownEventTypeError,
)
from analytics.webhooks.repository import ALL_TYPES, Delivery, DeliveryStatus, Status, Subscription
from mentorship_contracts.catalog import load_all
from mentorship_kit.commands import CommandTransaction, UseCase


def event_types(wanted: Sequence[str]) -> tuple[str, ...]:
    """The subscription's event types: contract names, deduplicated, or ``("*",)``.

    UnknownEventTypeError names the first type no contract defines.
    """
    known = load_all()
    chosen: list[str] = []
    for index, event_type in enumerate(wanted):
        if event_type != ALL_TYPES and not known.knows(event_type):
            raise UnknownEventTypeError(event_type, index)
        if event_type not in chosen:
            chosen.append(event_type)
    return (ALL_TYPES,) if ALL_TYPES in chosen else tuple(chosen)


@dataclass(frozen=True)
class NewSubscription:
    url: str
    event_types: tuple[str, ...]
    description: str | None
    secret: str


@dataclass(frozen=True)
class Changes:
    """What a PATCH changes; None = unchanged (``description_set`` says whether the
    description was given, as null clears it)."""

    url: str | None = None
    event_types: tuple[str, ...] | None = None
    description: str | None = None
    description_set: bool = False
    status: Status | None = None


async def _locked(tx: CommandTransaction, subscription_id: str) -> Subscription:
    subscription = await repository.get_subscription(tx.conn, subscription_id, for_update=True)
    if subscription is None:
        raise SubscriptionNotFoundError(subscription_id)
    return subscription


async def _record(
    tx: CommandTransaction, subscription_id: str, event: audit.AuditEvent, data: Mapping[str, Any]
) -> None:
    recorded = await audit.record(
        tx.store, tx.conn, subscription_id, event, data=data, metadata=tx.metadata
    )
    # The runner wakes the relay after the commit for what it sees appended.
    tx.appended.append(recorded)


def subscribe(new: NewSubscription, *, now: datetime) -> UseCase[Subscription]:
    async def use_case(tx: CommandTransaction) -> Subscription:
        subscription = Subscription(
            subscription_id=str(uuid.uuid4()),
            url=new.url,
            event_types=new.event_types,
            description=new.description,
            status=Status.ACTIVE,
            created_at=now,
            updated_at=now,
            failing_since=None,
            failed_deliveries=0,
            disabled_reason=None,
            secret=new.secret,
        )
        await repository.insert_subscription(tx.conn, subscription)
        await _record(
            tx,
            subscription.subscription_id,
            audit.AuditEvent.SUBSCRIBED,
            {
                "url": new.url,
                "event_types": list(new.event_types),
                "description": new.description,
            },
        )
        return subscription

    return use_case


def change(subscription_id: str, changes: Changes, *, now: datetime) -> UseCase[Subscription]:
    async def use_case(tx: CommandTransaction) -> Subscription:
        current = await _locked(tx, subscription_id)
        values: dict[str, Any] = {}
        diff: dict[str, Any] = {}
        if changes.url is not None and changes.url != current.url:
            values["url"] = changes.url
        if changes.event_types is not None and changes.event_types != current.event_types:
            values["event_types"] = list(changes.event_types)
        if changes.description_set and changes.description != current.description:
            values["description"] = changes.description
        for name, value in values.items():
            before = getattr(current, name)
            before = list(before) if isinstance(before, tuple) else before
            diff[name] = {"from": before, "to": value}
        if diff:
            await _record(tx, subscription_id, audit.AuditEvent.CHANGED, diff)
        if changes.status is not None and changes.status is not current.status:
            values |= await _change_status(tx, current, changes.status)
        if not values:
            return current
        values["updated_at"] = now
        await repository.update_subscription(tx.conn, subscription_id, values)
        updated = await repository.get_subscription(tx.conn, subscription_id)
        assert updated is not None  # noqa: S101 - locked above, in this transaction
        return updated

    return use_case


async def _change_status(
    tx: CommandTransaction, current: Subscription, status: Status
) -> dict[str, Any]:
    """The row changes of a pause or resume, recorded in the audit stream."""
    sid = current.subscription_id
    if status is Status.PAUSED:
        await _record(tx, sid, audit.AuditEvent.PAUSED, {"from": current.status.value})
        return {"status": status.value}
    # Resuming (a paused or a disabled subscription) starts a clean failure record.
    await _record(tx, sid, audit.AuditEvent.RESUMED, {"from": current.status.value})
    return {
        "status": status.value,
        "failing_since": None,
        "failed_deliveries": 0,
        "disabled_reason": None,
    }


def delete(subscription_id: str) -> UseCase[None]:
    async def use_case(tx: CommandTransaction) -> None:
        current = await _locked(tx, subscription_id)
        pending = await repository.pending_count(tx.conn, subscription_id)
        await _record(
            tx,
            subscription_id,
            audit.AuditEvent.DELETED,
            {"url": current.url, "pending_dropped": pending},
        )
        await repository.delete_subscription(tx.conn, subscription_id)

    return use_case


def redeliver(subscription_id: str, delivery_id: int, *, now: datetime) -> UseCase[Delivery]:
    """Queue a finished delivery again, with a fresh retry window; as the oldest pending
    delivery of its subscription it is the next one sent (once the subscription is
    active)."""

    async def use_case(tx: CommandTransaction) -> Delivery:
        await _locked(tx, subscription_id)
        delivery = await repository.get_delivery(tx.conn, subscription_id, delivery_id)
        if delivery is None:
            raise DeliveryNotFoundError(subscription_id, delivery_id)
        if delivery.status is DeliveryStatus.PENDING:
            raise DeliveryPendingError(delivery_id)
        await repository.requeue(tx.conn, delivery_id, now=now)
        await _record(
            tx,
            subscription_id,
            audit.AuditEvent.REDELIVERY_REQUESTED,
            {
                "delivery_id": delivery_id,
                "event_id": delivery.event_id,
                "previous_status": delivery.status.value,
            },
        )
        return replace(
            delivery,
            status=DeliveryStatus.PENDING,
            attempts=0,
            queued_at=now,
            first_attempt_at=None,
            next_attempt_at=now,
            completed_at=None,
            lease_until=None,
        )

    return use_case
