"""Where each read model's consumer stands against its source stream."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import nats.errors
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import ConsumerInfo
from prometheus_client import Gauge
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.adapters import positions, rebuild_log
from analytics.application.control import ConsumerState, ReadModelControl
from analytics.application.readmodels import SERVICE, ReadModel
from analytics.application.sources import Sources, StreamState

POSITION = Gauge(
    "analytics_source_position",
    "Last source stream sequence a read model has processed (its consumer or a rebuild).",
    ["service", "source"],
)
LAG = Gauge(
    "analytics_source_lag_messages",
    "Source stream messages after the last one a read model has processed.",
    ["service", "source"],
)


@dataclass(frozen=True, slots=True)
class ConsumerStatus:
    read_model: str
    source: str
    consumer: str
    stream: str
    state: ConsumerState
    paused: bool
    error: str | None
    stream_first_sequence: int | None
    stream_last_sequence: int | None
    position: int
    lag: int | None
    pending: int | None
    ack_pending: int | None
    handled_events: int


async def durable_info(js: JetStreamContext, model: ReadModel) -> ConsumerInfo | None:
    try:
        info: ConsumerInfo = await js.consumer_info(model.stream, model.consumer)
    except nats.js.errors.NotFoundError:
        return None
    return info


async def delete_durable(js: JetStreamContext, model: ReadModel) -> None:
    with contextlib.suppress(nats.js.errors.NotFoundError):
        await js.delete_consumer(model.stream, model.consumer)


async def processed_position(engine: AsyncEngine, model: ReadModel) -> int:
    """The highest source sequence in the read model: settled by its consumer, or
    covered by a rebuild that was swapped in."""
    async with engine.connect() as conn:
        settled = await positions.consumer_position(conn, model.consumer, model.stream)
        covered = await rebuild_log.covered_sequence(conn, model.name)
    return max(settled, covered)


def _record(model: ReadModel, position: int, stream: StreamState | None) -> int | None:
    POSITION.labels(SERVICE, model.source).set(position)
    if stream is None:
        return None
    lag = max(0, stream.last_sequence - position)
    LAG.labels(SERVICE, model.source).set(lag)
    return lag


async def refresh_gauges(engine: AsyncEngine, sources: Sources, model: ReadModel) -> None:
    """Update the position and lag gauges of one read model."""
    try:
        stream = await sources.stream_state(model.source)
    except (nats.errors.Error, OSError):
        stream = None
    _record(model, await processed_position(engine, model), stream)


async def consumer_status(
    engine: AsyncEngine, sources: Sources, control: ReadModelControl, model: ReadModel
) -> ConsumerStatus:
    try:
        stream = await sources.stream_state(model.source)
        durable = await durable_info(sources.js, model)
    except (nats.errors.Error, OSError):
        stream, durable = None, None
    position = await processed_position(engine, model)
    async with engine.connect() as conn:
        handled = await positions.handled_events(conn, model.consumer)
    return ConsumerStatus(
        read_model=model.name,
        source=model.source,
        consumer=model.consumer,
        stream=model.stream,
        state=control.state(model.name),
        paused=control.paused(model.name),
        error=control.error(model.name),
        stream_first_sequence=stream.first_sequence if stream else None,
        stream_last_sequence=stream.last_sequence if stream else None,
        position=position,
        lag=_record(model, position, stream),
        pending=durable.num_pending if durable else None,
        ack_pending=durable.num_ack_pending if durable else None,
        handled_events=handled,
    )
