"""Every query of the webhook tables. Callers own the transaction; nothing commits here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics.webhooks.tables import attempts, deliveries, subscriptions

ALL_TYPES: Final = "*"


class Status(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    DISABLED = "disabled"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Subscription:
    subscription_id: str
    url: str
    event_types: tuple[str, ...]
    description: str | None
    status: Status
    created_at: datetime
    updated_at: datetime
    failing_since: datetime | None
    failed_deliveries: int
    disabled_reason: str | None
    secret: str = field(repr=False)

    def wants(self, event_type: str) -> bool:
        return ALL_TYPES in self.event_types or event_type in self.event_types


@dataclass(frozen=True, slots=True)
class Delivery:
    delivery_id: int
    subscription_id: str
    event_id: str
    event_type: str
    body: str
    status: DeliveryStatus
    attempts: int
    created_at: datetime
    queued_at: datetime
    first_attempt_at: datetime | None
    next_attempt_at: datetime
    completed_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    lease_until: datetime | None


@dataclass(frozen=True, slots=True)
class Attempt:
    attempt_id: int
    delivery_id: int
    attempted_at: datetime
    duration_ms: float
    status_code: int | None
    error: str | None
    succeeded: bool


# -- subscriptions ---------------------------------------------------------------------


def _subscription(row: sa.RowMapping) -> Subscription:
    return Subscription(
        subscription_id=row["subscription_id"],
        url=row["url"],
        event_types=tuple(row["event_types"]),
        description=row["description"],
        status=Status(row["status"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        failing_since=row["failing_since"],
        failed_deliveries=row["failed_deliveries"],
        disabled_reason=row["disabled_reason"],
        secret=row["secret"],
    )


async def insert_subscription(conn: AsyncConnection, subscription: Subscription) -> None:
    await conn.execute(
        subscriptions.insert().values(
            subscription_id=subscription.subscription_id,
            url=subscription.url,
            event_types=list(subscription.event_types),
            description=subscription.description,
            secret=subscription.secret,
            status=subscription.status.value,
            created_at=subscription.created_at,
            updated_at=subscription.updated_at,
            failing_since=None,
            failed_deliveries=0,
            disabled_reason=None,
        )
    )


async def get_subscription(
    conn: AsyncConnection, subscription_id: str, *, for_update: bool = False
) -> Subscription | None:
    query = sa.select(subscriptions).where(subscriptions.c.subscription_id == subscription_id)
    if for_update:
        # Orders the writers of one subscription (PATCH, disabling, redelivery) and so
        # the appends to its audit stream; SQLite's single writer does that already.
        query = query.with_for_update()
    row = (await conn.execute(query)).mappings().first()
    return _subscription(row) if row is not None else None


async def list_subscriptions(
    conn: AsyncConnection,
    *,
    after: tuple[datetime, str] | None,
    limit: int,
    status: Status | None,
) -> list[Subscription]:
    """Oldest first, keyset on (created_at, id); ``limit`` rows at most."""
    c = subscriptions.c
    query = sa.select(subscriptions).order_by(c.created_at, c.subscription_id).limit(limit)
    if after is not None:
        at, subscription_id = after
        query = query.where(
            sa.or_(
                c.created_at > at,
                sa.and_(c.created_at == at, c.subscription_id > subscription_id),
            )
        )
    if status is not None:
        query = query.where(c.status == status.value)
    return [_subscription(row) for row in (await conn.execute(query)).mappings()]


async def update_subscription(
    conn: AsyncConnection, subscription_id: str, values: Mapping[str, Any]
) -> None:
    await conn.execute(
        sa.update(subscriptions)
        .where(subscriptions.c.subscription_id == subscription_id)
        .values(**values)
    )


async def delete_subscription(conn: AsyncConnection, subscription_id: str) -> None:
    """The subscription, its secret, its queue and its delivery log (the audit stays)."""
    await conn.execute(sa.delete(attempts).where(attempts.c.subscription_id == subscription_id))
    await conn.execute(sa.delete(deliveries).where(deliveries.c.subscription_id == subscription_id))
    await conn.execute(
        sa.delete(subscriptions).where(subscriptions.c.subscription_id == subscription_id)
    )


async def receiving_subscriptions(conn: AsyncConnection) -> list[Subscription]:
    """Subscriptions new events are queued for: active and paused ones."""
    query = sa.select(subscriptions).where(
        subscriptions.c.status.in_([Status.ACTIVE.value, Status.PAUSED.value])
    )
    return [_subscription(row) for row in (await conn.execute(query)).mappings()]


# -- the delivery queue ----------------------------------------------------------------


def _insert(conn: AsyncConnection) -> Any:
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


async def queue(conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Queue deliveries; one already queued for the same (subscription, event) is kept."""
    if not rows:
        return
    statement = _insert(conn)(deliveries).on_conflict_do_nothing(
        index_elements=["subscription_id", "event_id"]
    )
    await conn.execute(statement, list(rows))


def _delivery(row: sa.RowMapping) -> Delivery:
    return Delivery(
        delivery_id=row["delivery_id"],
        subscription_id=row["subscription_id"],
        event_id=row["event_id"],
        event_type=row["event_type"],
        body=row["body"],
        status=DeliveryStatus(row["status"]),
        attempts=row["attempts"],
        created_at=row["created_at"],
        queued_at=row["queued_at"],
        first_attempt_at=row["first_attempt_at"],
        next_attempt_at=row["next_attempt_at"],
        completed_at=row["completed_at"],
        last_status_code=row["last_status_code"],
        last_error=row["last_error"],
        lease_until=row["lease_until"],
    )


async def queue_heads(conn: AsyncConnection, *, exclude: Iterable[str]) -> list[Delivery]:
    """The first pending delivery of every active subscription not in ``exclude``.

    Only a head may be attempted: the next delivery of a subscription waits until the
    one before it succeeded or was given up.
    """
    d = deliveries.c
    heads = (
        sa.select(d.subscription_id, sa.func.min(d.delivery_id).label("head"))
        .where(d.status == DeliveryStatus.PENDING.value)
        .group_by(d.subscription_id)
        .subquery()
    )
    query = (
        sa.select(deliveries)
        .join(heads, heads.c.head == d.delivery_id)
        .join(subscriptions, subscriptions.c.subscription_id == d.subscription_id)
        .where(subscriptions.c.status == Status.ACTIVE.value)
        .order_by(d.next_attempt_at)
    )
    excluded = list(exclude)
    if excluded:
        query = query.where(d.subscription_id.not_in(excluded))
    return [_delivery(row) for row in (await conn.execute(query)).mappings()]


async def claim(
    conn: AsyncConnection, delivery_id: int, *, token: str, now: datetime, until: datetime
) -> Delivery | None:
    """Take the lease of a due pending delivery nobody holds (or whose lease expired);
    returns the delivery as it is now, or None when it was not free or not due."""
    d = deliveries.c
    result = await conn.execute(
        sa.update(deliveries)
        .where(
            d.delivery_id == delivery_id,
            d.status == DeliveryStatus.PENDING.value,
            d.next_attempt_at <= now,
            sa.or_(d.lease_until.is_(None), d.lease_until < now),
        )
        .values(lease_token=token, lease_until=until)
    )
    if result.rowcount != 1:
        return None
    row = (
        (await conn.execute(sa.select(deliveries).where(d.delivery_id == delivery_id)))
        .mappings()
        .one()
    )
    return _delivery(row)


async def settle(
    conn: AsyncConnection, delivery_id: int, *, token: str, values: Mapping[str, Any]
) -> bool:
    """Update a delivery this lease holder still holds; False when it does not."""
    d = deliveries.c
    result = await conn.execute(
        sa.update(deliveries)
        .where(
            d.delivery_id == delivery_id,
            d.lease_token == token,
            d.status == DeliveryStatus.PENDING.value,
        )
        .values(lease_token=None, lease_until=None, **values)
    )
    return result.rowcount == 1


async def record_attempt(conn: AsyncConnection, values: Mapping[str, Any]) -> None:
    await conn.execute(attempts.insert().values(**values))


async def fail_pending(
    conn: AsyncConnection, subscription_id: str, *, now: datetime, error: str
) -> int:
    """Give up every pending delivery of a subscription; returns how many."""
    d = deliveries.c
    result = await conn.execute(
        sa.update(deliveries)
        .where(d.subscription_id == subscription_id, d.status == DeliveryStatus.PENDING.value)
        .values(
            status=DeliveryStatus.FAILED.value,
            completed_at=now,
            last_error=error,
            lease_token=None,
            lease_until=None,
        )
    )
    return int(result.rowcount)


async def requeue(conn: AsyncConnection, delivery_id: int, *, now: datetime) -> None:
    """Queue a finished delivery again with a fresh retry window."""
    await conn.execute(
        sa.update(deliveries)
        .where(deliveries.c.delivery_id == delivery_id)
        .values(
            status=DeliveryStatus.PENDING.value,
            attempts=0,
            queued_at=now,
            first_attempt_at=None,
            next_attempt_at=now,
            completed_at=None,
            lease_token=None,
            lease_until=None,
        )
    )


async def pending_count(conn: AsyncConnection, subscription_id: str) -> int:
    d = deliveries.c
    query = sa.select(sa.func.count()).where(
        d.subscription_id == subscription_id, d.status == DeliveryStatus.PENDING.value
    )
    return int(await conn.scalar(query) or 0)


async def backlog(conn: AsyncConnection) -> dict[str, int]:
    """Pending deliveries of every subscription (0 for those without any)."""
    d = deliveries.c
    query = (
        sa.select(subscriptions.c.subscription_id, sa.func.count(d.delivery_id))
        .select_from(subscriptions)
        .outerjoin(
            deliveries,
            sa.and_(
                d.subscription_id == subscriptions.c.subscription_id,
                d.status == DeliveryStatus.PENDING.value,
            ),
        )
        .group_by(subscriptions.c.subscription_id)
    )
    return {row[0]: int(row[1]) for row in await conn.execute(query)}


# -- the delivery log ------------------------------------------------------------------


async def list_deliveries(
    conn: AsyncConnection,
    subscription_id: str,
    *,
    before: int | None,
    limit: int,
    status: DeliveryStatus | None,
) -> list[Delivery]:
    """Newest first, keyset on the delivery id."""
    d = deliveries.c
    query = (
        sa.select(deliveries)
        .where(d.subscription_id == subscription_id)
        .order_by(d.delivery_id.desc())
        .limit(limit)
    )
    if before is not None:
        query = query.where(d.delivery_id < before)
    if status is not None:
        query = query.where(d.status == status.value)
    return [_delivery(row) for row in (await conn.execute(query)).mappings()]


async def get_delivery(
    conn: AsyncConnection, subscription_id: str, delivery_id: int
) -> Delivery | None:
    d = deliveries.c
    query = sa.select(deliveries).where(
        d.delivery_id == delivery_id, d.subscription_id == subscription_id
    )
    row = (await conn.execute(query)).mappings().first()
    return _delivery(row) if row is not None else None


async def attempts_of(
    conn: AsyncConnection, delivery_ids: Sequence[int]
) -> dict[int, list[Attempt]]:
    """The attempts of each delivery, oldest first."""
    found: dict[int, list[Attempt]] = {delivery_id: [] for delivery_id in delivery_ids}
    if not delivery_ids:
        return found
    a = attempts.c
    query = (
        sa.select(attempts)
        .where(a.delivery_id.in_(list(delivery_ids)))
        .order_by(a.delivery_id, a.attempt_id)
    )
    for row in (await conn.execute(query)).mappings():
        found[row["delivery_id"]].append(
            Attempt(
                attempt_id=row["attempt_id"],
                delivery_id=row["delivery_id"],
                attempted_at=row["attempted_at"],
                duration_ms=row["duration_ms"],
                status_code=row["status_code"],
                error=row["error"],
                succeeded=row["succeeded"],
            )
        )
    return found
