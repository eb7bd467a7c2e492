"""The consumer runtime: a durable JetStream pull consumer, exactly-once in effect.

Each fetched batch is handled in ONE database transaction and acknowledged only after it
commits. What makes a redelivery harmless is a key, not a hope: ``consumer_streams``
holds, per (consumer, aggregate stream), the last stream version handled. Inside the
transaction, before the handler runs, the event's version is checked against it:

- version <= last handled: a duplicate (a redelivery after a crash between commit and
  ack, or a re-published event) -> acknowledged, the handler is not called;
- version == last + 1 (or 1 for an unknown stream): the handler runs and the version
  is recorded in the same transaction;
- version > last + 1: an earlier event of the same aggregate has not been handled yet
  (it is waiting for a redelivery) -> nak'ed with the backoff of its own delivery
  count, so per-aggregate order survives redelivery.

Choices worth knowing:

- A stream the consumer has never seen must start at version 1. Consumers start from the
  beginning of the source stream, so version 1 is always delivered first unless it is
  waiting for a redelivery, and accepting any first version would silently skip it.
  When the source stream was trimmed by limits, set ``strict_first_version=False``
  (then the first version seen of an unknown aggregate is accepted).
- ``filter_subject`` must cover whole aggregates (``mentorship.<service>.>`` or
  ``mentorship.<service>.<aggregate>.>``): a filter on single event types would hide
  versions and stall the version check forever. Ignore unwanted types in the handler.
- JetStream's own ``max_deliver`` is left unlimited and the runtime counts deliveries
  itself: JetStream stops redelivering at its limit even when the failure was the
  database being down, which would strand the message. Here a message is dead-lettered
  only when, at delivery ``max_deliver`` or later, its handler failed (or it was still
  waiting for an earlier version); while the batch transaction itself cannot commit, it
  is nak'ed and retried for as long as it takes, and those deliveries are not counted
  (by this process, which remembers them).
- A batch runs without savepoints; when a handler fails, the transaction is rolled back
  and the batch run again with each handler in a savepoint, so one failing event does
  not hold back the others. Handlers must therefore only touch the database.
- Several runtimes of one consumer are safe (see :class:`_StreamVersions`), though one
  per consumer is the normal deployment.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Final

import nats.errors
import nats.js.errors
import orjson
import sqlalchemy as sa
import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mentorship_contracts import SUBJECT_PREFIX, CloudEvent
from mentorship_kit.db import begin, transaction_driver
from mentorship_kit.deadletters import (
    count_dead_letters,
    discard_dead_letter,
    get_dead_letter,
    record_dead_letter,
)
from mentorship_kit.eventstore.tables import kit_metadata
from mentorship_kit.messaging import MSG_ID_HEADER, from_message, stream_name
from mentorship_kit.supervisor import raise_if_cancelling

log = structlog.get_logger(__name__)
tracer = trace.get_tracer(__name__)
_propagator: Final = TraceContextTextMapPropagator()

Handler = Callable[[AsyncConnection, CloudEvent], Awaitable[None]]
AfterCommit = Callable[[CloudEvent], Awaitable[None]]

DEFAULT_BACKOFF: Final = (0.2, 1.0, 5.0, 15.0, 30.0, 60.0)
_FETCH_RETRY_MAX_SECONDS: Final = 5.0
_RESUBSCRIBE_AFTER_FAILURES: Final = 5
# How long a fetch after a handled batch waits for more: long enough for the reply to a
# no-wait request on loopback or in a cluster, too short to hold a lone event back.
_DRAIN_SECONDS: Final = 0.002
_ERROR_TEXT_LIMIT: Final = 4000

_LABELS: Final = ["service", "consumer"]
HANDLED = Counter("mentorship_consumer_handled_total", "Events handled and committed.", _LABELS)
DUPLICATES = Counter(
    "mentorship_consumer_duplicates_skipped_total",
    "Redelivered events acknowledged without handling (already handled).",
    _LABELS,
)
NAKS = Counter(
    "mentorship_consumer_naks_total",
    "Messages returned for redelivery; reason = handler_error | waiting_for_earlier | "
    "transaction_failed.",
    [*_LABELS, "reason"],
)
DEAD_LETTERED = Counter(
    "mentorship_consumer_dead_lettered_total", "Messages moved to the dead-letter table.", _LABELS
)
DEAD_LETTERS = Gauge(
    "mentorship_consumer_dead_letters", "Dead letters currently stored for the consumer.", _LABELS
)
LAG = Gauge(
    "mentorship_consumer_lag_messages",
    "Messages in the source stream not yet delivered to the consumer.",
    _LABELS,
)
HANDLER_SECONDS = Histogram(
    "mentorship_consumer_handler_seconds", "Time spent in the handler per event.", _LABELS
)

_TABLES: Final = kit_metadata().tables
_STREAMS: Final = _TABLES["consumer_streams"]
_POSITIONS: Final = _TABLES["consumer_positions"]
_SUBJECT_PART = r"[a-z][a-z0-9_]*"
# PostgreSQL: a batch's reads and writes of the consumer's own tables go straight through
# the driver, so that a batch of a few events costs two statements of ours, not
# SQLAlchemy's compilation of four (it cost more CPU than the database did).
_PG_LOAD_VERSIONS: Final = """
SELECT stream_id, stream_version FROM consumer_streams
WHERE consumer = $1 AND stream_id = ANY($2::text[])
ORDER BY stream_id
FOR UPDATE
"""
# The moved versions, the streams seen for the first time (a plain INSERT: see
# _StreamVersions) and the highest stream sequence settled ($6 NULL: none), in one
# statement; data-modifying CTEs always run to completion.
_PG_SAVE: Final = """
WITH moved AS (
    UPDATE consumer_streams AS s SET stream_version = m.version
    FROM unnest($2::text[], $3::int[]) AS m(stream_id, version)
    WHERE s.consumer = $1 AND s.stream_id = m.stream_id
), fresh AS (
    INSERT INTO consumer_streams (consumer, stream_id, stream_version)
    SELECT $1, n.stream_id, n.version FROM unnest($4::text[], $5::int[]) AS n(stream_id, version)
)
INSERT INTO consumer_positions AS p (consumer, source, stream_sequence, updated_at)
SELECT $1, $7, $6, $8 WHERE $6::bigint IS NOT NULL
ON CONFLICT (consumer, source) DO UPDATE
SET stream_sequence = greatest(p.stream_sequence, excluded.stream_sequence),
    updated_at = excluded.updated_at
"""


class _Claim(Enum):
    CLAIMED = "claimed"
    DUPLICATE = "duplicate"
    WAITING = "waiting"


class _Ack(Enum):
    ACK = "ack"
    NAK = "nak"
    TERM = "term"


class _Result(Enum):
    """What happened to a message; counted only once the batch has committed."""

    HANDLED = "handled"
    DUPLICATE = "duplicate"
    DEAD_LETTERED = "dead_lettered"
    HANDLER_ERROR = "handler_error"
    WAITING = "waiting_for_earlier"


@dataclass(frozen=True, slots=True)
class _Outcome:
    msg: Msg
    result: _Result
    event: CloudEvent | None = None
    delay: float = 0.0
    error: str | None = None

    @property
    def ack(self) -> _Ack:
        if self.result is _Result.DEAD_LETTERED:
            return _Ack.TERM
        if self.result in {_Result.HANDLER_ERROR, _Result.WAITING}:
            return _Ack.NAK
        return _Ack.ACK


class DeadLetterRetryError(RuntimeError):
    """A dead letter cannot be handled now (unparseable, or an earlier event is missing)."""


def _insert(conn: AsyncConnection) -> Any:
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


class _StreamVersions:
    """The consumer's last handled version of each stream one batch touches.

    Loaded once per batch transaction, decided on in memory, written back before the
    commit: the claim costs no round trip per message. On PostgreSQL the rows are read
    ``FOR UPDATE`` in stream-id order, so a second runtime of the same consumer waits
    for this batch (and cannot deadlock with it); SQLite's single writer already
    serialises batches. A stream seen for the first time is INSERTed, so two runtimes
    racing on one new stream collide on the primary key: one batch fails and is
    retried, and never do both handle the event.
    """

    def __init__(self, consumer: str, *, strict_first_version: bool) -> None:
        self.consumer = consumer
        self.strict_first_version = strict_first_version
        self._stored: dict[str, int] = {}
        self._current: dict[str, int] = {}

    async def load(self, conn: AsyncConnection, stream_ids: Iterable[str]) -> None:
        ids = sorted(set(stream_ids))
        if not ids:
            return
        if conn.dialect.name == "postgresql":
            driver = await transaction_driver(conn)
            records = await driver.fetch(_PG_LOAD_VERSIONS, self.consumer, ids)
            self._stored = dict(records)
            self._current = dict(self._stored)
            return
        c = _STREAMS.c
        query = (
            sa.select(c.stream_id, c.stream_version)
            .where(c.consumer == self.consumer, c.stream_id.in_(ids))
            .order_by(c.stream_id)
            .with_for_update()
        )
        self._stored = {row.stream_id: row.stream_version for row in await conn.execute(query)}
        self._current = dict(self._stored)

    def check(self, stream_id: str, version: int) -> tuple[_Claim, int]:
        """Whether ``version`` is next for its stream; returns (claim, last handled)."""
        last = self._current.get(stream_id)
        if last is None:
            if version > 1 and self.strict_first_version:
                return _Claim.WAITING, 0
            return _Claim.CLAIMED, 0
        if version <= last:
            return _Claim.DUPLICATE, last
        if version > last + 1:
            return _Claim.WAITING, last
        return _Claim.CLAIMED, last

    def advance(self, stream_id: str, version: int) -> None:
        self._current[stream_id] = version

    def _changes(self) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
        """(moved, new): the streams whose stored version moved, and those first seen."""
        moved = [
            (stream_id, version)
            for stream_id, version in self._current.items()
            if stream_id in self._stored and self._stored[stream_id] != version
        ]
        new = [
            (stream_id, version)
            for stream_id, version in self._current.items()
            if stream_id not in self._stored
        ]
        return moved, new

    async def save(self, conn: AsyncConnection) -> None:
        c = _STREAMS.c
        moved, new = self._changes()
        if moved:
            await conn.execute(
                sa.update(_STREAMS)
                .where(c.consumer == self.consumer, c.stream_id == sa.bindparam("b_stream_id"))
                .values(stream_version=sa.bindparam("b_version")),
                [{"b_stream_id": stream_id, "b_version": version} for stream_id, version in moved],
            )
        if new:
            await conn.execute(
                _STREAMS.insert(),
                [
                    {"consumer": self.consumer, "stream_id": stream_id, "stream_version": version}
                    for stream_id, version in new
                ],
            )
        self._stored = dict(self._current)

    async def save_with_position(
        self, conn: AsyncConnection, *, source: str, sequence: int | None
    ) -> None:
        """PostgreSQL: ``save`` and the consumer's position, in one statement."""
        moved, new = self._changes()
        if not moved and not new and sequence is None:
            return
        driver = await transaction_driver(conn)
        await driver.execute(
            _PG_SAVE,
            self.consumer,
            [stream_id for stream_id, _ in moved],
            [version for _, version in moved],
            [stream_id for stream_id, _ in new],
            [version for _, version in new],
            sequence,
            source,
            datetime.now(UTC),
        )
        self._stored = dict(self._current)


class _IsolateError(Exception):
    """A handler failed in a batch run without savepoints: run it again with them."""

    def __init__(self, event_id: str, error: str) -> None:
        super().__init__(error)
        self.event_id = event_id
        self.error = error


def _validate_filter(filter_subject: str, source_service: str) -> None:
    whole_aggregates = re.compile(
        rf"^{re.escape(SUBJECT_PREFIX)}\.{re.escape(source_service)}\.(>|{_SUBJECT_PART}\.[>*])$"
    )
    if not whole_aggregates.match(filter_subject):
        msg = (
            f"filter_subject {filter_subject!r} must select whole aggregates of "
            f"{source_service!r} (e.g. '{SUBJECT_PREFIX}.{source_service}.<aggregate>.>'): "
            "the per-aggregate version check needs every event of an aggregate"
        )
        raise ValueError(msg)


class ConsumerRuntime:
    """Runs one durable pull consumer until cancelled; see the module docstring."""

    def __init__(
        self,
        engine: AsyncEngine,
        js: JetStreamContext,
        *,
        consumer: str,
        source_service: str,
        handler: Handler,
        service: str | None = None,
        max_deliver: int = 8,
        backoff: Sequence[float] = DEFAULT_BACKOFF,
        batch_size: int = 100,
        filter_subject: str | None = None,
        after_commit: AfterCommit | None = None,
        ack_wait: float = 30.0,
        max_ack_pending: int = 10_000,
        fetch_timeout: float = 0.5,
        housekeeping_interval: float = 15.0,
        strict_first_version: bool = True,
    ) -> None:
        if not backoff or max_deliver < 1 or batch_size < 1:
            msg = "backoff must not be empty; max_deliver and batch_size must be >= 1"
            raise ValueError(msg)
        if filter_subject is not None:
            _validate_filter(filter_subject, source_service)
        self.engine = engine
        self.js = js
        self.consumer = consumer
        self.source_service = source_service
        self.stream = stream_name(source_service)
        self.handler = handler
        # The consuming service, for metric labels; "matching-pool" -> "matching".
        self.service = service or consumer.split("-", 1)[0]
        self.max_deliver = max_deliver
        self.backoff = tuple(backoff)
        self.batch_size = batch_size
        self.filter_subject = filter_subject
        self.after_commit = after_commit
        self.ack_wait = ack_wait
        self.max_ack_pending = max_ack_pending
        self.fetch_timeout = fetch_timeout
        self.housekeeping_interval = housekeeping_interval
        self.strict_first_version = strict_first_version
        self._labels = (self.service, consumer)
        self._log = log.bind(consumer=consumer, stream=self.stream)
        self._sub: JetStreamContext.PullSubscription | None = None
        self._next_housekeeping = 0.0
        # Deliveries spent while batches could not commit, by stream sequence: they never
        # reached the version check or a handler, so they do not count toward max_deliver.
        self._uncommitted_deliveries: dict[int, int] = {}

    # -- lifecycle -----------------------------------------------------------------

    async def run(self) -> None:
        """Consume until cancelled. Outages of NATS or the database are waited out."""
        self._log.info("consumer.starting")
        try:
            while True:
                raise_if_cancelling()
                await self._consume(await self._subscribe())
        finally:
            await self._unsubscribe()
            self._log.info("consumer.stopped")

    def consumer_config(self) -> ConsumerConfig:
        return ConsumerConfig(
            name=self.consumer,
            durable_name=self.consumer,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self.ack_wait,
            max_deliver=-1,
            max_ack_pending=self.max_ack_pending,
            filter_subject=self.filter_subject,
        )

    async def _subscribe(self) -> JetStreamContext.PullSubscription:
        """Create (idempotently) the durable consumer and bind a pull subscription.

        Retries while NATS is unreachable or the stream does not exist yet (the producer
        creates it when it starts); a consumer configuration the server refuses (e.g. a
        changed filter on an existing durable) is raised: that needs a human.
        """
        await self._unsubscribe()
        failures = 0
        while True:
            raise_if_cancelling()
            try:
                await self.js.add_consumer(self.stream, self.consumer_config())
                sub = await self.js.pull_subscribe_bind(durable=self.consumer, stream=self.stream)
            except nats.js.errors.NotFoundError:
                failures += 1
                self._log.info("consumer.waiting_for_stream")
            except nats.js.errors.BadRequestError:
                self._log.exception("consumer.config_refused")
                raise
            except (nats.errors.Error, OSError) as exc:
                failures += 1
                self._log.warning("consumer.subscribe_failed", error=repr(exc))
            else:
                self._sub = sub
                self._log.info("consumer.subscribed")
                await self._refresh_dead_letter_gauge()
                return sub
            await asyncio.sleep(self._retry_delay(failures))

    async def _unsubscribe(self) -> None:
        sub, self._sub = self._sub, None
        if sub is None:
            return
        try:
            await sub.unsubscribe()
        except (nats.errors.Error, ValueError) as exc:  # closed or never bound
            self._log.debug("consumer.unsubscribe_failed", error=repr(exc))

    async def _consume(self, sub: JetStreamContext.PullSubscription) -> None:
        """Fetch and handle batches; returns when the subscription must be re-created."""
        failures = 0
        draining = False
        while True:
            raise_if_cancelling()
            try:
                # Idle, wait for one message: nats-py's fetch returns what is already
                # there at once, but a request that had to linger waits out its whole
                # deadline for the batch to fill, which would delay a lone event by
                # that much. Once one has come, drain what has piled up meanwhile with
                # a deadline too short to linger on.
                msgs = await (
                    sub.fetch(self.batch_size, timeout=_DRAIN_SECONDS)
                    if draining
                    else sub.fetch(1, timeout=self.fetch_timeout)
                )
            except TimeoutError:
                # Nothing to do, or the server is away and the request was lost;
                # either way simply ask again (the client reconnects on its own).
                # Builtin TimeoutError: nats-py raises its own subclass of it, or the
                # builtin one from an inner wait_for when a short fetch deadline passes.
                if not draining:
                    await self._housekeeping(idle=True)
                draining = False
                continue
            except nats.js.errors.APIError as exc:
                # e.g. the consumer or stream vanished with a server that lost its store
                self._log.warning("consumer.fetch_rejected", error=repr(exc))
                return
            except (nats.errors.Error, OSError) as exc:
                failures += 1
                self._log.warning("consumer.fetch_failed", error=repr(exc), failures=failures)
                if failures >= _RESUBSCRIBE_AFTER_FAILURES:
                    return
                await asyncio.sleep(self._retry_delay(failures))
                continue
            failures = 0
            draining = True
            await self._handle_batch(msgs)
            await self._housekeeping(idle=False)

    def _retry_delay(self, failures: int) -> float:
        return float(min(0.1 * 2 ** (failures - 1), _FETCH_RETRY_MAX_SECONDS))

    def _backoff(self, delivery: int) -> float:
        return self.backoff[min(max(delivery, 1), len(self.backoff)) - 1]

    # -- one batch -----------------------------------------------------------------

    async def _handle_batch(self, msgs: Sequence[Msg]) -> None:
        parsed = [_parse(msg) for msg in msgs]
        try:
            try:
                outcomes = await self._transaction(msgs, parsed, failed=None)
            except _IsolateError as failure:
                # Handlers normally succeed, so savepoints are only paid for when one
                # did not: the batch runs again with each handler isolated, and the
                # one that failed is not called again (it gets its backoff instead).
                outcomes = await self._transaction(msgs, parsed, failed=failure)
        except Exception as exc:  # noqa: BLE001 - any failure to commit is retried later
            self._log.warning("consumer.batch_failed", error=repr(exc), size=len(msgs))
            NAKS.labels(*self._labels, "transaction_failed").inc(len(msgs))
            if len(self._uncommitted_deliveries) > _UNCOMMITTED_DELIVERIES_KEPT:
                self._uncommitted_deliveries.clear()  # only ever counts more deliveries
            for msg in msgs:
                sequence = msg.metadata.sequence.stream
                spent = self._uncommitted_deliveries.get(sequence, 0) + 1
                self._uncommitted_deliveries[sequence] = spent
                await _settle(msg, _Ack.NAK, self._backoff(_deliveries(msg)), self._log)
            return
        for outcome in outcomes:
            self._count(outcome)
            if outcome.ack is not _Ack.NAK:
                self._uncommitted_deliveries.pop(outcome.msg.metadata.sequence.stream, None)
            if outcome.result is _Result.HANDLED and self.after_commit is not None:
                assert outcome.event is not None  # noqa: S101 - HANDLED always carries it
                await self.after_commit(outcome.event)
            await _settle(outcome.msg, outcome.ack, outcome.delay, self._log)
        if msgs:
            LAG.labels(*self._labels).set(msgs[-1].metadata.num_pending)

    async def _transaction(
        self,
        msgs: Sequence[Msg],
        parsed: Sequence[CloudEvent | str],
        *,
        failed: _IsolateError | None,
    ) -> list[_Outcome]:
        """One transaction for the whole batch: versions, handlers, dead letters."""
        async with begin(self.engine) as conn:
            versions = _StreamVersions(
                self.consumer, strict_first_version=self.strict_first_version
            )
            await versions.load(conn, [e.subject for e in parsed if isinstance(e, CloudEvent)])
            outcomes = [
                await self._handle_message(conn, versions, msg, event, failed=failed)
                for msg, event in zip(msgs, parsed, strict=True)
            ]
            settled = [o.msg.metadata.sequence.stream for o in outcomes if o.ack is not _Ack.NAK]
            if conn.dialect.name == "postgresql":
                highest = max(settled) if settled else None
                await versions.save_with_position(conn, source=self.stream, sequence=highest)
            else:
                await versions.save(conn)
                await self._record_position(conn, settled)
        return outcomes

    def _count(self, outcome: _Outcome) -> None:
        result = outcome.result
        if result is _Result.HANDLED:
            HANDLED.labels(*self._labels).inc()
        elif result is _Result.DUPLICATE:
            DUPLICATES.labels(*self._labels).inc()
        elif result is _Result.DEAD_LETTERED:
            DEAD_LETTERED.labels(*self._labels).inc()
            DEAD_LETTERS.labels(*self._labels).inc()
            self._log.error(
                "consumer.dead_lettered",
                event_id=outcome.event.id if outcome.event else None,
                subject=outcome.msg.subject,
                stream_sequence=outcome.msg.metadata.sequence.stream,
                deliveries=_deliveries(outcome.msg),
                error=outcome.error,
            )
        else:
            NAKS.labels(*self._labels, result.value).inc()
            self._log.info(
                "consumer.nak",
                event_id=outcome.event.id if outcome.event else None,
                delivery=_deliveries(outcome.msg),
                reason=result.value,
                error=outcome.error,
                retry_in=outcome.delay,
            )

    async def _handle_message(
        self,
        conn: AsyncConnection,
        versions: _StreamVersions,
        msg: Msg,
        parsed: CloudEvent | str,
        *,
        failed: _IsolateError | None,
    ) -> _Outcome:
        """Check the version and call the handler. In a batch's first run (``failed``
        is None) a handler error aborts the run; in the second it is contained."""
        if isinstance(parsed, str):
            await self._dead_letter(conn, msg, parsed, event_id=None)
            return _Outcome(msg, _Result.DEAD_LETTERED, error=parsed)
        event = parsed
        with tracer.start_as_current_span(
            f"{msg.subject} process",
            context=_propagator.extract(carrier=dict(msg.headers or {})),
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "nats",
                "messaging.operation.type": "process",
                "messaging.destination.name": msg.subject,
                "messaging.consumer.group.name": self.consumer,
                "messaging.message.id": event.id,
                "messaging.message.delivery_count": _deliveries(msg),
            },
        ) as span:
            claim, last = versions.check(event.subject, event.streamversion)
            if claim is _Claim.DUPLICATE:
                return _Outcome(msg, _Result.DUPLICATE, event)
            if claim is _Claim.WAITING:
                error = f"waiting for version {last + 1} of stream {event.subject}"
                return await self._failed(conn, msg, event, _Result.WAITING, error)
            if failed is not None and failed.event_id == event.id:
                return await self._failed(conn, msg, event, _Result.HANDLER_ERROR, failed.error)
            try:
                await self._call_handler(conn, event, isolate=failed is not None)
            except Exception as exc:
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, repr(exc)))
                if failed is None:
                    raise _IsolateError(event.id, repr(exc)) from exc
                return await self._failed(conn, msg, event, _Result.HANDLER_ERROR, repr(exc))
            versions.advance(event.subject, event.streamversion)
            return _Outcome(msg, _Result.HANDLED, event)

    async def _call_handler(
        self, conn: AsyncConnection, event: CloudEvent, *, isolate: bool
    ) -> None:
        started = time.perf_counter()
        try:
            if isolate:
                async with conn.begin_nested():
                    await self.handler(conn, event)
            else:
                await self.handler(conn, event)
        finally:
            HANDLER_SECONDS.labels(*self._labels).observe(time.perf_counter() - started)

    async def _failed(
        self, conn: AsyncConnection, msg: Msg, event: CloudEvent, result: _Result, error: str
    ) -> _Outcome:
        """Nak with backoff, or dead-letter at the last allowed delivery.

        Deliveries made while batches could not commit (a database outage) are not
        counted: after an outage, a message that arrives before an earlier version of its
        stream must still get its ``max_deliver`` tries, not be dead-lettered at once.
        """
        sequence = msg.metadata.sequence.stream
        delivery = max(1, _deliveries(msg) - self._uncommitted_deliveries.get(sequence, 0))
        if delivery >= self.max_deliver:
            await self._dead_letter(conn, msg, error, event_id=event.id)
            return _Outcome(msg, _Result.DEAD_LETTERED, event, error=error)
        return _Outcome(msg, result, event, delay=self._backoff(delivery), error=error)

    async def _dead_letter(
        self, conn: AsyncConnection, msg: Msg, error: str, *, event_id: str | None
    ) -> None:
        headers = dict(msg.headers or {})
        await record_dead_letter(
            conn,
            consumer=self.consumer,
            event_id=event_id or headers.get(MSG_ID_HEADER),
            subject=msg.subject,
            stream_sequence=msg.metadata.sequence.stream,
            deliveries=_deliveries(msg),
            error=error[:_ERROR_TEXT_LIMIT],
            headers=headers,
            payload=msg.data.decode("utf-8", errors="replace"),
        )

    async def _record_position(self, conn: AsyncConnection, done: list[int]) -> None:
        """Remember the highest stream sequence settled, for lag in stream positions."""
        if not done:
            return
        c = _POSITIONS.c
        stmt = _insert(conn)(_POSITIONS).values(
            consumer=self.consumer,
            source=self.stream,
            stream_sequence=max(done),
            updated_at=datetime.now(UTC),
        )
        await conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["consumer", "source"],
                set_={
                    "stream_sequence": sa.case(
                        (
                            stmt.excluded.stream_sequence > c.stream_sequence,
                            stmt.excluded.stream_sequence,
                        ),
                        else_=c.stream_sequence,
                    ),
                    "updated_at": stmt.excluded.updated_at,
                },
            )
        )

    # -- housekeeping --------------------------------------------------------------

    async def _housekeeping(self, *, idle: bool) -> None:
        """Refresh the lag and dead-letter gauges now and then (and when idle)."""
        now = time.monotonic()
        if now < self._next_housekeeping:
            return
        self._next_housekeeping = now + self.housekeeping_interval
        if idle and self._sub is not None:
            try:
                info = await self._sub.consumer_info()
            except (nats.errors.Error, OSError) as exc:
                self._log.debug("consumer.info_failed", error=repr(exc))
            else:
                LAG.labels(*self._labels).set(info.num_pending or 0)
        await self._refresh_dead_letter_gauge()

    async def _refresh_dead_letter_gauge(self) -> None:
        try:
            async with self.engine.connect() as conn:
                count = await count_dead_letters(conn, consumer=self.consumer)
        except Exception as exc:  # noqa: BLE001 - a gauge refresh must never stop consuming
            self._log.debug("consumer.dead_letter_count_failed", error=repr(exc))
            return
        DEAD_LETTERS.labels(*self._labels).set(count)

    # -- operator actions ----------------------------------------------------------

    async def retry_dead_letter(self, dead_letter_id: int) -> bool:
        """Handle one of this consumer's dead letters now and delete it.

        Returns True when the handler ran, False when the event had been handled in the
        meantime (a duplicate; the row is deleted too). Raises DeadLetterRetryError when
        the message is unparseable or an earlier event of its aggregate is still
        missing (retry that one first), LookupError when there is no such dead letter,
        and whatever the handler raises (the row then stays).
        """
        async with self.engine.begin() as conn:
            letter = await get_dead_letter(conn, dead_letter_id)
            if letter is None or letter.consumer != self.consumer:
                msg = f"no dead letter {dead_letter_id} for consumer {self.consumer}"
                raise LookupError(msg)
            event = _event_from_dead_letter(letter.headers, letter.payload)
            versions = _StreamVersions(
                self.consumer, strict_first_version=self.strict_first_version
            )
            await versions.load(conn, [event.subject])
            claim, last = versions.check(event.subject, event.streamversion)
            if claim is _Claim.WAITING:
                msg = f"version {last + 1} of {event.subject} must be handled first"
                raise DeadLetterRetryError(msg)
            if claim is _Claim.CLAIMED:
                await self._call_handler(conn, event, isolate=False)
                versions.advance(event.subject, event.streamversion)
                await versions.save(conn)
            await discard_dead_letter(conn, dead_letter_id)
        if claim is _Claim.CLAIMED:
            HANDLED.labels(*self._labels).inc()
        await self._refresh_dead_letter_gauge()
        self._log.info("consumer.dead_letter_retried", id=dead_letter_id, claim=claim.value)
        return claim is _Claim.CLAIMED


def _parse(msg: Msg) -> CloudEvent | str:
    """The message's CloudEvent, or why it is not one (a poison message)."""
    try:
        return from_message(msg)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError too
        return f"unparseable message: {exc}"


# Messages whose uncommitted deliveries are remembered (per process); past it the memory
# is cleared, which can only make a message's remaining tries fewer, never more.
_UNCOMMITTED_DELIVERIES_KEPT = 100_000


def _deliveries(msg: Msg) -> int:
    return int(msg.metadata.num_delivered)


async def _settle(msg: Msg, ack: _Ack, delay: float, logger: Any) -> None:
    """Ack, nak or term. A lost ack only causes a redelivery, which is a duplicate."""
    try:
        if ack is _Ack.ACK:
            await msg.ack()
        elif ack is _Ack.TERM:
            await msg.term()
        else:
            await msg.nak(delay=delay)
    except nats.errors.Error as exc:
        logger.warning("consumer.settle_failed", ack=ack.value, error=repr(exc))


def _event_from_dead_letter(headers: Mapping[str, str], payload: str) -> CloudEvent:
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        msg = f"the dead letter's payload is not JSON: {exc}"
        raise DeadLetterRetryError(msg) from exc
    if not isinstance(data, dict):
        msg = "the dead letter's payload is not a JSON object"
        raise DeadLetterRetryError(msg)
    try:
        return CloudEvent.from_headers(dict(headers), data)
    except ValueError as exc:
        msg = f"the dead letter is not a CloudEvent: {exc}"
        raise DeadLetterRetryError(msg) from exc
