"""Settings of the analytics process, read only from the environment."""

from __future__ import annotations

from typing import Annotated, Final
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from analytics.domain.privacy import MIN_THRESHOLD
from mentorship_kit.consumer import DEFAULT_BACKOFF
from mentorship_kit.settings import ServiceSettings

SOURCES: Final = ("enrollment", "matching", "sessions")


class AnalyticsSettings(ServiceSettings):
    """The kit's settings (DATABASE_URL, NATS_URL, AUTH_*, LOG_*, ...) plus:

    - ``ANALYTICS_SUPPRESSION_THRESHOLD``: groups and figures built from fewer people or
      responses come back suppressed (default 5, never below 3);
    - ``ANALYTICS_SOURCE_URLS``: ``enrollment=http://...,matching=http://...`` — where
      each producer serves ``GET /v1/events``, the catch-up source when its JetStream
      stream was trimmed;
    - ``ANALYTICS_SOURCE_TOKEN``: the bearer token (role admin) sent to those feeds; in
      dev mode a dev token is minted when it is not set;
    - ``ANALYTICS_PAUSE_POLL_SECONDS``: how often a consumer looks for a running rebuild
      of its read model (rebuilds started by another replica);
    - ``ANALYTICS_REBUILD_BATCH_SIZE``: events applied per rebuild transaction;
    - ``ANALYTICS_CONSUMER_BATCH_SIZE`` / ``ANALYTICS_CONSUMER_FETCH_SECONDS``: messages
      per consumer fetch (and transaction), and how long one fetch waits. A fetch takes
      what is there at once; only when nothing is there does it wait, and then, having
      got a first message, it waits for the rest of its batch until this deadline
      (nats-py) — so the deadline bounds the delay a quiet stream adds, and a batch
      keeps the consumer ahead of a busy one;
    - ``ANALYTICS_CONSUMER_ACK_WAIT_SECONDS``: when JetStream redelivers a message that
      was not acknowledged (its process died mid-transaction). Later events of the same
      aggregate wait for it, so this bounds the recovery after a crash; a redelivery of
      a message that was in fact handled is only a duplicate.
    - ``ANALYTICS_CONSUMER_MAX_DELIVER`` / ``ANALYTICS_CONSUMER_BACKOFF_SECONDS``: an
      event whose handler keeps failing (a poison message) is retried after each of
      these delays in turn (the last one repeats) and dead-lettered at this delivery.
    """

    analytics_suppression_threshold: int = Field(default=5, ge=MIN_THRESHOLD, le=1000)
    analytics_source_urls: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict)
    analytics_source_token: SecretStr | None = None
    analytics_pause_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    analytics_rebuild_batch_size: int = Field(default=20_000, ge=1, le=100_000)
    analytics_consumer_batch_size: int = Field(default=50, ge=1, le=1000)
    analytics_consumer_fetch_seconds: float = Field(default=0.5, gt=0, le=30)
    analytics_consumer_ack_wait_seconds: float = Field(default=10.0, ge=1, le=300)
    analytics_consumer_max_deliver: int = Field(default=8, ge=1, le=1000)
    analytics_consumer_backoff_seconds: Annotated[
        tuple[Annotated[float, Field(gt=0, le=3600)], ...], NoDecode
    ] = Field(default=DEFAULT_BACKOFF, min_length=1, max_length=50)

    @field_validator("analytics_consumer_backoff_seconds", mode="before")
    @classmethod
    def _delays(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("analytics_source_urls", mode="before")
    @classmethod
    def _source_urls(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        urls: dict[str, str] = {}
        for part in (p.strip() for p in value.split(",")):
            if not part:
                continue
            source, sep, url = part.partition("=")
            if not sep:
                raise ValueError(f"{part!r} is not SOURCE=URL")
            urls[source.strip()] = url.strip()
        return urls

    @field_validator("analytics_source_urls")
    @classmethod
    def _known_sources(cls, value: dict[str, str]) -> dict[str, str]:
        for source, url in value.items():
            if source not in SOURCES:
                raise ValueError(f"unknown source {source!r}; known: {', '.join(SOURCES)}")
            parts = urlsplit(url)
            if parts.scheme not in {"http", "https"} or not parts.hostname:
                raise ValueError(f"{url!r} is not an http(s) URL")
        return {source: url.rstrip("/") for source, url in value.items()}


def analytics_settings(settings: ServiceSettings) -> AnalyticsSettings:
    """The app's settings as analytics settings (an app built with the kit's plain
    settings gets the analytics defaults, read from the environment)."""
    if isinstance(settings, AnalyticsSettings):
        return settings
    return AnalyticsSettings(**settings.model_dump())
