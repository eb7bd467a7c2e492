"""Shared by the webhook tests (service and e2e): settings, the running app, events, a clock."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from analytics.main import create_app
from analytics.webhooks.settings import WebhookSettings
from mentorship_contracts import CloudEvent
from mentorship_kit.auth import issue_dev_token
from mentorship_kit.settings import DEFAULT_DEV_SECRET


def bearer(*roles: str, sub: str | None = None) -> dict[str, str]:
    token = issue_dev_token(DEFAULT_DEV_SECRET, roles=roles, sub=sub)
    return {"Authorization": f"Bearer {token}"}


ADMIN = bearer("admin", sub="admin-ada")

FAST = {
    "webhook_backoff_initial_seconds": 0.1,
    "webhook_backoff_max_seconds": 0.5,
    "webhook_backoff_jitter": 0.2,
    "webhook_retry_window_seconds": 120.0,
    "webhook_poll_seconds": 0.1,
    "webhook_timeout_seconds": 5.0,
}


def settings(database_url: str, nats_url: str, **overrides: Any) -> WebhookSettings:
    values: dict[str, Any] = {
        "dev_mode": True,
        "database_url": database_url,
        "nats_url": nats_url,
        "log_level": "WARNING",
        "log_json": False,
        "analytics_pause_poll_seconds": 0.2,
        **FAST,
        **overrides,
    }
    return WebhookSettings(**values)


@contextlib.asynccontextmanager
async def running_app(
    database_url: str, nats_url: str, **overrides: Any
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings(database_url, nats_url, **overrides))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://analytics.test", headers=ADMIN
        ) as client:
            yield client


def cloud_event(
    event_type: str = "PairFormed",
    *,
    subject: str | None = None,
    version: int = 1,
    data: dict[str, Any] | None = None,
) -> CloudEvent:
    return CloudEvent(
        id=str(uuid.uuid4()),
        source="/mentorship/matching",
        type=f"mentorship.matching.pair.{event_type.lower()}.v1",
        subject=subject or f"pair-{uuid.uuid4().hex[:8]}",
        time=datetime.now(UTC),
        data=data or {"n": version},
        eventtype=event_type,
        schemaversion=1,
        streamtype="pair",
        streamversion=version,
    )


@dataclass
class FakeClock:
    """A clock the test moves; it starts at the real time so signatures stay fresh."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
