"""A producer's pull event feed (``GET /v1/events``) as a source of CloudEvents.

Every service serves its whole history there in commit-safe global order — the same
order its relay published to JetStream. Analytics reads it when a JetStream stream no
longer holds the beginning of the history (trimmed by limits).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Final

import httpx
import structlog
from opentelemetry import trace

from mentorship_contracts import CloudEvent

log = structlog.get_logger(__name__)
tracer = trace.get_tracer(__name__)

PAGE_SIZE: Final = 1000
_ATTEMPTS: Final = 5


class FeedUnavailableError(RuntimeError):
    """The producer's feed cannot be read (not configured, or failing)."""


async def _page(client: httpx.AsyncClient, params: dict[str, str | int]) -> dict[str, object]:
    """One page, retried with backoff on network errors and 5xx answers."""
    delay = 0.2
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            response = await client.get("/v1/events", params=params)
            if response.status_code < 500:  # noqa: PLR2004 - server errors are retried
                response.raise_for_status()
                page: dict[str, object] = response.json()
                return page
            error = f"HTTP {response.status_code}"
        except httpx.TransportError as exc:
            error = repr(exc)
        except httpx.HTTPStatusError as exc:
            msg = f"the event feed at {client.base_url} refused the request: {exc}"
            raise FeedUnavailableError(msg) from exc
        log.warning("analytics.feed_retry", url=str(client.base_url), attempt=attempt, error=error)
        await asyncio.sleep(delay)
        delay *= 2
    msg = f"the event feed at {client.base_url} keeps failing"
    raise FeedUnavailableError(msg)


async def feed_events(
    base_url: str,
    token: str,
    *,
    page_size: int = PAGE_SIZE,
    transport: httpx.AsyncBaseTransport | None = None,
) -> AsyncIterator[CloudEvent]:
    """Every event the producer at ``base_url`` serves, oldest first, until caught up."""
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    async with httpx.AsyncClient(
        base_url=base_url, headers=headers, timeout=30.0, transport=transport
    ) as client:
        params: dict[str, str | int] = {"limit": page_size}
        while True:
            with tracer.start_as_current_span("analytics.feed_page", attributes={"url": base_url}):
                page = await _page(client, params)
            items = page.get("items")
            cursor = page.get("next_cursor")
            if not isinstance(items, list) or not isinstance(cursor, str):
                msg = f"the event feed at {base_url} answered something else than a page"
                raise FeedUnavailableError(msg)
            for item in items:
                yield CloudEvent.model_validate(item)
            if len(items) < page_size:
                return
            params = {"limit": page_size, "after": cursor}
