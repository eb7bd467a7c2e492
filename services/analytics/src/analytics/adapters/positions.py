"""Where the consumers stand: the kit's per-consumer stream positions."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from mentorship_kit.eventstore import kit_metadata

_POSITIONS = kit_metadata().tables["consumer_positions"]
_STREAMS = kit_metadata().tables["consumer_streams"]


async def consumer_position(conn: AsyncConnection, consumer: str, stream: str) -> int:
    """The highest stream sequence the consumer settled (0 when it settled none)."""
    c = _POSITIONS.c
    query = sa.select(c.stream_sequence).where(c.consumer == consumer, c.source == stream)
    return int(await conn.scalar(query) or 0)


async def handled_events(conn: AsyncConnection, consumer: str) -> int:
    """Events the consumer (or a rebuild re-seeding it) applied: the sum of its versions."""
    c = _STREAMS.c
    query = sa.select(sa.func.coalesce(sa.func.sum(c.stream_version), 0)).where(
        c.consumer == consumer
    )
    return int(await conn.scalar(query) or 0)
