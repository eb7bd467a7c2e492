"""Settings of the outbound webhooks, read only from the environment (``WEBHOOK_*``).

They extend the analytics settings, so that an app built with plain analytics settings
(``analytics.main.create_app()``) still reads them from the environment, and a test can
pass one object with everything in it.
"""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import Field, field_validator, model_validator
from pydantic_settings import NoDecode

from analytics.config import AnalyticsSettings
from analytics.webhooks.targets import parse_host_pattern
from mentorship_kit.settings import ServiceSettings


class WebhookSettings(AnalyticsSettings):
    """The analytics settings plus:

    - ``WEBHOOK_ALLOWED_HOSTS``: comma-separated hosts a subscription may target:
      ``hooks.partner.io`` (exactly that host), ``*.example.com`` (any host under it) or
      ``*`` (any public host). Empty (the default) allows none, except loopback in dev
      mode. Outside dev mode targets must also be https and resolve to public addresses;
    - ``WEBHOOK_RETRY_WINDOW_SECONDS``: how long a delivery is retried before it is
      marked failed (default 24 hours);
    - ``WEBHOOK_BACKOFF_INITIAL_SECONDS`` / ``WEBHOOK_BACKOFF_MAX_SECONDS`` /
      ``WEBHOOK_BACKOFF_JITTER``: the retry delay doubles from the initial value up to
      the maximum; each delay is shortened by a random part of up to ``jitter`` (0-1) so
      that many failing deliveries do not retry in lockstep;
    - ``WEBHOOK_TIMEOUT_SECONDS``: the time one attempt may take (connect to response);
    - ``WEBHOOK_CONCURRENCY``: subscriptions delivered to at the same time (per process);
    - ``WEBHOOK_POLL_SECONDS``: how often the delivery worker looks for due deliveries
      when nothing woke it (deliveries queued by another replica, retries coming due);
    - ``WEBHOOK_DISABLE_AFTER_SECONDS`` / ``WEBHOOK_DISABLE_AFTER_FAILED_DELIVERIES``: a
      subscription whose every attempt failed for that long, or that had that many
      deliveries in a row given up, is disabled (default 5 days / 5 deliveries).
    """

    webhook_allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    webhook_retry_window_seconds: float = Field(default=24 * 3600.0, gt=0, le=7 * 24 * 3600)
    webhook_backoff_initial_seconds: float = Field(default=5.0, gt=0, le=3600)
    webhook_backoff_max_seconds: float = Field(default=3600.0, gt=0, le=24 * 3600)
    webhook_backoff_jitter: float = Field(default=0.2, ge=0, le=1)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    webhook_concurrency: int = Field(default=16, ge=1, le=1000)
    webhook_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    webhook_disable_after_seconds: float = Field(default=5 * 24 * 3600.0, gt=0)
    webhook_disable_after_failed_deliveries: int = Field(default=5, ge=1, le=1000)

    @field_validator("webhook_allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("webhook_allowed_hosts")
    @classmethod
    def _host_patterns(cls, value: list[str]) -> list[str]:
        return [parse_host_pattern(pattern) for pattern in value]

    @model_validator(mode="after")
    def _backoff_bounds(self) -> Self:
        if self.webhook_backoff_max_seconds < self.webhook_backoff_initial_seconds:
            msg = "WEBHOOK_BACKOFF_MAX_SECONDS must not be below WEBHOOK_BACKOFF_INITIAL_SECONDS"
            raise ValueError(msg)
        return self


def webhook_settings(settings: ServiceSettings) -> WebhookSettings:
    """The app's settings as webhook settings (missing values from the environment)."""
    if isinstance(settings, WebhookSettings):
        return settings
    return WebhookSettings(**settings.model_dump())
