"""Where a read model's history comes from when it is replayed.

JetStream first: the source's stream replayed from its first message. When the stream
no longer starts at sequence 1 (trimmed by its limits), the beginning of the history
is only in the producer's event store, served by its ``GET /v1/events`` feed at the URL
``ANALYTICS_SOURCE_URLS`` names.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import nats.js.errors
from nats.js import JetStreamContext

from analytics.adapters.event_feed import FeedUnavailableError, feed_events
from analytics.config import AnalyticsSettings
from mentorship_contracts import CloudEvent
from mentorship_kit.auth import Role, issue_dev_token
from mentorship_kit.messaging import stream_name
from mentorship_kit.projection import jetstream_events


@dataclass(frozen=True, slots=True)
class StreamState:
    first_sequence: int
    last_sequence: int
    messages: int

    @property
    def trimmed(self) -> bool:
        """The stream lost its first messages (limits or manual purge)."""
        return self.first_sequence > 1


@dataclass(frozen=True, slots=True)
class Replay:
    """A replay of one source: its events and what they cover."""

    kind: str  # "jetstream" | "feed" | "empty"
    events: AsyncIterator[CloudEvent]
    covers_sequence: int
    expected_events: int | None


async def _nothing() -> AsyncIterator[CloudEvent]:
    empty: tuple[CloudEvent, ...] = ()
    for event in empty:
        yield event


@dataclass(frozen=True)
class Sources:
    js: JetStreamContext
    settings: AnalyticsSettings

    async def stream_state(self, source: str) -> StreamState | None:
        """The source stream's extent; None when the stream does not exist (yet)."""
        try:
            info = await self.js.stream_info(stream_name(source))
        except nats.js.errors.NotFoundError:
            return None
        state = info.state
        return StreamState(state.first_seq, state.last_seq, state.messages)

    def feed_token(self) -> str:
        token = self.settings.analytics_source_token
        if token is not None:
            return token.get_secret_value()
        secret = self.settings.dev_secret
        if secret is None:
            msg = "ANALYTICS_SOURCE_TOKEN is not set (an admin token for the producers' feeds)"
            raise FeedUnavailableError(msg)
        return issue_dev_token(secret, role=Role.ADMIN, sub="analytics")

    def feed(self, source: str) -> AsyncIterator[CloudEvent]:
        url = self.settings.analytics_source_urls.get(source)
        if url is None:
            msg = (
                f"the {source} stream was trimmed and ANALYTICS_SOURCE_URLS names no feed "
                f"for {source} (e.g. {source}=http://{source}:8000)"
            )
            raise FeedUnavailableError(msg)
        return feed_events(url, self.feed_token())

    async def replay(self, source: str) -> Replay:
        state = await self.stream_state(source)
        if state is None or state.last_sequence == 0:
            return Replay("empty", _nothing(), 0, 0)
        if state.trimmed:
            return Replay("feed", self.feed(source), state.last_sequence, None)
        return Replay(
            "jetstream", jetstream_events(self.js, source), state.last_sequence, state.messages
        )
