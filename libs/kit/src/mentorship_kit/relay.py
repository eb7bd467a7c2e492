"""The outbox relay: a service's events go from its event store to NATS JetStream.

The event store is the truth and JetStream the transport. One relay per service leads
(an advisory lock on PostgreSQL, a file lock on SQLite); others stand by and take over
when it dies. The leader reads events in the store's commit-safe global order, keeps a
bounded number of publishes in flight and moves its checkpoint only past the contiguous
run of events JetStream acknowledged.

Guarantees and why they hold:

- *Nothing lost*: the checkpoint is saved after the PubAck, so a crash at any point
  re-publishes from the last saved checkpoint. ``Nats-Msg-Id`` = event id makes
  JetStream drop such copies inside its duplicate window; consumers dedupe by id beyond.
- *Stream order = commit order*: every message carries ``Nats-Expected-Last-Msg-Id``, the
  id of the event before it. When a message is lost in transit (a server restart cuts
  the connection), JetStream rejects each later one rather than storing it out of
  order, and the relay resumes from the last acknowledged event. A re-published
  duplicate is recognised before that check, so catching up after a crash still works.
- *Checkpoints* are saved without waiting for PostgreSQL's fsync (``synchronous_commit
  off`` for that transaction only): a relay publishes its next batch only after the
  save, and on a live stream of small batches the fsync was most of a batch's time. A
  PostgreSQL crash can lose the newest saves; the relay then resumes from an older
  checkpoint and re-publishes a little more, which the duplicate checks above absorb.
  A relay crash loses nothing: the commit is visible to the next leader at once.
- *Acknowledged yet lost* (JetStream crashed before its fsync): on the next failure the
  relay compares the stream's last sequence with the sequences it was acknowledged and
  re-publishes what is missing. :func:`rewind` does the same by hand for older history.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
import structlog
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from prometheus_client import Counter, Gauge
from sqlalchemy.dialects import postgresql, sqlite

from mentorship_kit.db import begin
from mentorship_kit.eventstore import START, Checkpoint, EventStore, RecordedEvent
from mentorship_kit.leader import LeadershipLostError, leader_lock, run_as_leader
from mentorship_kit.messaging import ensure_stream, stream_name, to_message
from mentorship_kit.supervisor import raise_if_cancelling

if TYPE_CHECKING:
    from nats.js import JetStreamContext
    from nats.js.api import PubAck
    from opentelemetry.trace import Span
    from sqlalchemy.ext.asyncio import AsyncConnection

log = structlog.get_logger(__name__)
tracer = trace.get_tracer(__name__)
_propagator = TraceContextTextMapPropagator()

OnAcked = Callable[[Sequence[RecordedEvent]], Awaitable[None]]

EXPECTED_LAST_MSG_ID = "Nats-Expected-Last-Msg-Id"
PG_POLL_INTERVAL = 1.0
SQLITE_POLL_INTERVAL = 0.05
# Committed events behind an older, still-open transaction become readable only when
# that one ends, and its end may send no notification: on PostgreSQL the horizon is the
# oldest transaction of the whole server, any database. While events are held back the
# relay looks again soon, backing off from the first interval to the second.
HELD_BACK_FIRST_WAIT = 0.001
HELD_BACK_MAX_WAIT = 0.016
ACK_TIMEOUT = 3.0
BACKOFF_MIN = 0.05
BACKOFF_MAX = 2.0
LISTEN_CHECK_INTERVAL = 2.0
LISTEN_CHECK_TIMEOUT = 3.0
LAG_MEASURE_INTERVAL = 1.0
# Acknowledged sequences kept to notice JetStream losing acknowledged messages.
ACK_MEMORY = 20_000

_LABELS = ["service", "relay"]
RELAY_PUBLISHED = Counter(
    "relay_events_published_total",
    "Events JetStream acknowledged, re-published duplicates included.",
    _LABELS,
)
RELAY_DUPLICATES = Counter(
    "relay_duplicate_acks_total",
    "Re-published events JetStream recognised as already stored (Nats-Msg-Id).",
    _LABELS,
)
RELAY_FAILURES = Counter(
    "relay_publish_failures_total",
    "Publish rounds that failed (error or no PubAck in time); the relay resumes from its "
    "checkpoint.",
    _LABELS,
)
RELAY_REPAIRS = Counter(
    "relay_jetstream_losses_total",
    "Times JetStream was found missing messages it had acknowledged (re-published).",
    _LABELS,
)
RELAY_LAG = Gauge(
    "relay_lag_events",
    "Committed events after the relay's checkpoint (not yet published).",
    _LABELS,
)
RELAY_LAST_CHECKPOINT = Gauge(
    "relay_last_checkpoint_timestamp_seconds",
    "Unix time at which the relay last saved an advanced checkpoint.",
    _LABELS,
)
RELAY_LEADER = Gauge("relay_leader", "1 while this instance is the active relay.", _LABELS)


class PublishAbortedError(Exception):
    """A message after the awaited one was rejected, so this round cannot complete."""


@dataclass(slots=True)
class _InFlight:
    event: RecordedEvent
    before: Checkpoint  # the checkpoint that re-publishes this event
    future: asyncio.Future[PubAck]
    span: Span


@dataclass(frozen=True, slots=True)
class _Metrics:
    """This relay's children of the module-level metrics."""

    published: Counter
    duplicates: Counter
    failures: Counter
    repairs: Counter
    lag: Gauge
    last_checkpoint: Gauge
    leader: Gauge

    @classmethod
    def for_labels(cls, service: str, relay: str) -> _Metrics:
        labels = {"service": service, "relay": relay}
        return cls(
            published=RELAY_PUBLISHED.labels(**labels),
            duplicates=RELAY_DUPLICATES.labels(**labels),
            failures=RELAY_FAILURES.labels(**labels),
            repairs=RELAY_REPAIRS.labels(**labels),
            lag=RELAY_LAG.labels(**labels),
            last_checkpoint=RELAY_LAST_CHECKPOINT.labels(**labels),
            leader=RELAY_LEADER.labels(**labels),
        )


class OutboxRelay:
    """Publishes the store's events to the service's JetStream stream, forever.

    ``on_acked`` is awaited with the events of each acknowledged run right before the
    checkpoint moves past them: an extension point for side effects that must follow
    the PubAck (and for tests that crash the process exactly there).
    """

    def __init__(
        self,
        store: EventStore,
        js: JetStreamContext,
        *,
        service: str,
        name: str = "relay",
        batch_size: int = 2000,
        max_in_flight: int = 256,
        poll_interval: float | None = None,
        ack_timeout: float = ACK_TIMEOUT,
        on_acked: OnAcked | None = None,
        stream_replicas: int = 1,
    ) -> None:
        if batch_size < 1 or max_in_flight < 1:
            msg = "batch_size and max_in_flight must be positive"
            raise ValueError(msg)
        self._store = store
        self._js = js
        self._service = service
        self._name = name
        self._batch_size = batch_size
        self._max_in_flight = max_in_flight
        default_poll = PG_POLL_INTERVAL if store.is_postgres else SQLITE_POLL_INTERVAL
        self._poll_interval = poll_interval if poll_interval is not None else default_poll
        self._ack_timeout = ack_timeout
        self._on_acked = on_acked
        # The stream is (re)declared on every recovery, with the service's replica count:
        # declaring it with any other count would scale a production R3 stream down.
        self._stream_replicas = stream_replicas
        self._table = store.metadata.tables["relay_checkpoints"]
        self._stream = stream_name(service)
        self._log = log.bind(service=service, relay=name)
        self._metrics = _Metrics.for_labels(service, name)
        self._saved = START
        self._leading = False
        # Id of the last event of an uninterrupted run of fresh publishes; the next
        # message must follow it on the stream (None starts a new run).
        self._chain_tail: str | None = None
        self._acked: deque[tuple[int, Checkpoint]] = deque(maxlen=ACK_MEMORY)
        self._lag_measured_at = 0.0
        self._lag = 0
        self._held_back_wait = HELD_BACK_FIRST_WAIT
        self._ahead: tuple[Checkpoint, asyncio.Task[list[RecordedEvent]]] | None = None

    @property
    def is_leader(self) -> bool:
        return self._leading

    @property
    def checkpoint(self) -> Checkpoint:
        """The last checkpoint this relay saved (or loaded)."""
        return self._saved

    async def run(self) -> None:
        """Stand by until leader, then publish until cancelled or leadership is lost."""
        lock = leader_lock(self._store.engine, f"outbox-relay:{self._service}:{self._name}")
        try:
            while True:
                raise_if_cancelling()
                await lock.acquire()
                self._set_leading(leading=True)
                self._log.info("relay.leadership_gained")
                try:
                    await run_as_leader(lock, self._lead)
                except LeadershipLostError:
                    self._log.warning("relay.leadership_lost")
                finally:
                    self._set_leading(leading=False)
                    await lock.release()
        finally:
            await lock.release()

    def _set_leading(self, *, leading: bool) -> None:
        self._leading = leading
        self._metrics.leader.set(1 if leading else 0)

    async def _lead(self) -> None:
        self._acked.clear()
        wake = asyncio.Event()
        # Commits made through this process's store wake the relay directly; LISTEN
        # covers the other processes (other replicas of the service).
        self._store.listen_locally(wake)
        listener = asyncio.create_task(self._listen(wake)) if self._store.is_postgres else None
        try:
            await self._pump(wake)
        finally:
            self._store.unlisten_locally(wake)
            await self._drop_read_ahead()
            if listener is not None:
                listener.cancel()
                await asyncio.gather(listener, return_exceptions=True)

    async def _pump(self, wake: asyncio.Event) -> None:
        failures = 0
        recover = True
        while True:
            raise_if_cancelling()
            try:
                if recover:
                    await self._recover()
                    recover = False
                await self._step(wake)
                failures = 0
            except Exception as exc:  # noqa: BLE001 - any failure: back off, resume from the checkpoint
                recover = True
                failures += 1
                delay = min(BACKOFF_MIN * 2 ** (failures - 1), BACKOFF_MAX)
                self._log.warning("relay.failed", error=repr(exc), retry_in=delay)
                await asyncio.sleep(delay)

    async def _recover(self) -> None:
        """(Re)start from the saved checkpoint, first repairing what JetStream lost."""
        await ensure_stream(self._js, self._service, replicas=self._stream_replicas)
        await self._repair_lost_acks()
        async with self._store.engine.begin() as conn:
            await conn.execute(
                self._insert()
                .values(relay=self._name, tx_id=0, position=0, updated_at=datetime.now(UTC))
                .on_conflict_do_nothing(index_elements=["relay"])
            )
            self._saved = await self._read_checkpoint(conn)
        self._chain_tail = None
        self._log.info("relay.restart_from_checkpoint", checkpoint=self._saved.encode())

    async def _repair_lost_acks(self) -> None:
        if not self._acked:
            return
        info = await self._js.stream_info(self._stream)
        last_seq = info.state.last_seq
        lost_from = next((before for seq, before in self._acked if seq > last_seq), None)
        self._acked.clear()
        if lost_from is None:
            return
        self._metrics.repairs.inc()
        self._log.error(
            "relay.jetstream_lost_acknowledged",
            stream_last_seq=last_seq,
            rewind_to=lost_from.encode(),
        )
        if lost_from < self._saved and await self._compare_and_set(self._saved, lost_from):
            self._saved = lost_from

    async def _step(self, wake: asyncio.Event) -> None:
        """Publish the next batch, or wait for one."""
        wake.clear()
        batch = await self._take_read_ahead()
        if batch:
            await self._relay(batch)
            await self._measure_lag()
            return
        async with self._store.engine.connect() as conn:
            batch = await self._store.read_all(self._saved, limit=self._batch_size, conn=conn)
            if not batch:
                stored = await self._read_checkpoint(conn)
                held_back = await self._held_back(conn)
        if batch:
            self._held_back_wait = HELD_BACK_FIRST_WAIT
            await self._relay(batch)
            await self._measure_lag()
        elif stored != self._saved:
            self._adopt(stored)
        else:
            await self._measure_lag(idle=True)
            await _wait(wake, self._idle_wait(held_back=held_back))

    async def _held_back(self, conn: AsyncConnection) -> bool:
        """Whether committed events after the checkpoint are not readable yet."""
        if not self._store.is_postgres:
            return False  # one writer: nothing commits behind anything else
        c = self._store.events.c
        after = sa.tuple_(c.tx_id, c.position) > sa.tuple_(self._saved.tx_id, self._saved.position)
        query = sa.select(sa.exists().where(after))
        return bool((await conn.execute(query)).scalar_one())

    def _idle_wait(self, *, held_back: bool) -> float:
        if not held_back:
            self._held_back_wait = HELD_BACK_FIRST_WAIT
            return self._poll_interval
        wait = self._held_back_wait
        self._held_back_wait = min(wait * 2, HELD_BACK_MAX_WAIT)
        return wait

    def _read_ahead(self, batch: Sequence[RecordedEvent]) -> None:
        """Fetch the batch after this full one while this one is in flight."""
        if len(batch) < self._batch_size:
            return
        cursor = batch[-1].checkpoint
        task = asyncio.create_task(self._store.read_all(cursor, limit=self._batch_size))
        self._ahead = (cursor, task)

    async def _take_read_ahead(self) -> list[RecordedEvent]:
        """The read-ahead batch if it still follows the saved checkpoint, else nothing."""
        if self._ahead is None or self._ahead[0] != self._saved:
            await self._drop_read_ahead()
            return []
        _, task = self._ahead
        self._ahead = None
        return await task

    async def _drop_read_ahead(self) -> None:
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            ahead[1].cancel()
            await asyncio.gather(ahead[1], return_exceptions=True)

    def _adopt(self, stored: Checkpoint) -> None:
        # Someone else moved the checkpoint: a rewind, or a former leader finishing its
        # last save. The table is the truth; continue from there.
        self._log.warning(
            "relay.checkpoint_moved", expected=self._saved.encode(), found=stored.encode()
        )
        self._saved = stored
        self._chain_tail = None

    async def _relay(self, batch: Sequence[RecordedEvent]) -> None:
        self._read_ahead(batch)
        acked, error = await self._publish(batch)
        if acked:
            done = batch[:acked]
            if self._on_acked is not None:
                await self._on_acked(done)
            await self._advance(done[-1].checkpoint)
            self._metrics.published.inc(acked)
        if error is not None:
            self._metrics.failures.inc()
            raise error

    async def _advance(self, checkpoint: Checkpoint) -> None:
        if await self._compare_and_set(self._saved, checkpoint):
            self._saved = checkpoint
            self._metrics.last_checkpoint.set(time.time())
            return
        async with self._store.engine.connect() as conn:
            self._adopt(await self._read_checkpoint(conn))

    async def _publish(self, batch: Sequence[RecordedEvent]) -> tuple[int, Exception | None]:
        """Publish a batch in order; how many of its first events were acknowledged."""
        failed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        in_flight: deque[_InFlight] = deque()
        acked = 0
        all_fresh = True
        expect = self._chain_tail
        self._chain_tail = None
        before = self._saved
        try:
            for event in batch:
                if len(in_flight) >= self._max_in_flight:
                    all_fresh &= await self._settle(in_flight.popleft(), failed)
                    acked += 1
                in_flight.append(await self._send(event, before, expect, failed))
                before = event.checkpoint
                expect = str(event.event_id)
            while in_flight:
                all_fresh &= await self._settle(in_flight.popleft(), failed)
                acked += 1
        except Exception as exc:  # noqa: BLE001 - reported to the caller with the acked prefix
            return acked, exc
        finally:
            for item in in_flight:
                item.future.cancel()  # frees the client's pending-publish slot
                item.span.set_status(Status(StatusCode.ERROR, "abandoned"))
                item.span.end()
        if all_fresh:
            # A duplicate does not move the stream's last message id, so only a run of
            # fresh stores may be continued by the next batch.
            self._chain_tail = expect
        return acked, None

    async def _send(
        self,
        event: RecordedEvent,
        before: Checkpoint,
        expect: str | None,
        failed: asyncio.Future[None],
    ) -> _InFlight:
        message = to_message(event, self._service)
        headers = message.headers
        if expect is not None:
            headers[EXPECTED_LAST_MSG_ID] = expect
        traceparent = event.metadata.traceparent
        parent = _propagator.extract({"traceparent": traceparent}) if traceparent else Context()
        span = tracer.start_span(
            f"publish {message.subject}",
            context=parent,
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": "nats",
                "messaging.destination.name": message.subject,
                "messaging.message.id": str(event.event_id),
            },
        )
        # The consumer continues the trace from this span, not from the request's.
        _propagator.inject(headers, context=trace.set_span_in_context(span))
        try:
            future = await self._js.publish_async(message.subject, message.payload, headers=headers)
        except BaseException as exc:
            _fail_span(span, exc)
            raise
        future.add_done_callback(partial(_signal_failure, failed))
        return _InFlight(event, before, future, span)

    async def _settle(self, item: _InFlight, failed: asyncio.Future[None]) -> bool:
        """Wait for one PubAck; True when JetStream stored the message (no duplicate)."""
        try:
            ack = await self._ack_of(item.future, failed)
        except BaseException as exc:
            item.future.cancel()  # frees the client's pending-publish slot if still waiting
            _fail_span(item.span, exc)
            raise
        item.span.end()
        self._acked.append((ack.seq, item.before))
        if ack.duplicate:
            self._metrics.duplicates.inc()
            return False
        return True

    async def _ack_of(self, future: asyncio.Future[PubAck], failed: asyncio.Future[None]) -> PubAck:
        if not future.done():
            # A future may never resolve: the message or its PubAck was lost with the
            # connection, or the server rejected it (nats-py 2.16 drops error PubAcks
            # of publish_async instead of failing the future, nats-io/nats.py#985). So
            # the wait is bounded, and ends early when a later message already failed.
            waiters: set[asyncio.Future[Any]] = {future, failed}
            await asyncio.wait(
                waiters, timeout=self._ack_timeout, return_when=asyncio.FIRST_COMPLETED
            )
        if future.done():
            return future.result()
        if failed.done():
            msg = "a later message was rejected"
            raise PublishAbortedError(msg)
        msg = f"no PubAck within {self._ack_timeout}s"
        raise TimeoutError(msg)

    async def _measure_lag(self, *, idle: bool = False) -> None:
        """Count committed events after the checkpoint, at most once a second.

        Counted without the read horizon on purpose: events held back by a long-running
        transaction are lag too, and this is where that becomes visible. When idle after
        a non-zero count, count again at once so a drained relay reports zero promptly.
        """
        now = time.monotonic()
        recent = now - self._lag_measured_at < LAG_MEASURE_INTERVAL
        if recent and not (idle and self._lag):
            return
        self._lag_measured_at = now
        c = self._store.events.c
        after = self._saved
        if self._store.is_postgres:
            newer = sa.tuple_(c.tx_id, c.position) > sa.tuple_(after.tx_id, after.position)
        else:
            newer = c.position > after.position
        query = sa.select(sa.func.count()).select_from(self._store.events).where(newer)
        async with self._store.engine.connect() as conn:
            self._lag = int((await conn.execute(query)).scalar_one())
        self._metrics.lag.set(self._lag)

    async def _listen(self, wake: asyncio.Event) -> None:
        """LISTEN on the store's channel; reconnect and LISTEN again after any failure."""

        def on_notify(*_args: object) -> None:
            wake.set()

        while True:
            raise_if_cancelling()
            try:
                async with self._store.engine.connect() as conn:
                    await conn.execution_options(isolation_level="AUTOCOMMIT")
                    driver: Any = (await conn.get_raw_connection()).driver_connection
                    await driver.add_listener(self._store.notify_channel, on_notify)
                    wake.set()  # whatever committed while nobody listened
                    try:
                        while True:
                            raise_if_cancelling()
                            await asyncio.sleep(LISTEN_CHECK_INTERVAL)
                            await asyncio.wait_for(conn.execute(sa.select(1)), LISTEN_CHECK_TIMEOUT)
                    finally:
                        # A session with a listener must not go back to the pool.
                        await conn.invalidate()
            except Exception as exc:  # noqa: BLE001 - polling covers the gap; retry
                self._log.warning("relay.listen_failed", error=repr(exc))
                await asyncio.sleep(self._poll_interval)

    async def _read_checkpoint(self, conn: AsyncConnection) -> Checkpoint:
        return await _read_checkpoint(conn, self._table, self._name)

    async def _compare_and_set(self, old: Checkpoint, new: Checkpoint) -> bool:
        """Save ``new`` if the table still holds ``old`` (a rewind or another leader wins)."""
        t = self._table
        query = (
            sa.update(t)
            .where(t.c.relay == self._name, t.c.tx_id == old.tx_id, t.c.position == old.position)
            .values(tx_id=new.tx_id, position=new.position, updated_at=datetime.now(UTC))
        )
        async with begin(self._store.engine) as conn:
            if self._store.is_postgres:
                # No fsync wait: see "Checkpoints" in the module's docstring.
                await conn.exec_driver_sql("SET LOCAL synchronous_commit TO off")
            result = await conn.execute(query)
        return result.rowcount == 1

    def _insert(self) -> Any:
        return _insert_for(self._store)(self._table)


def _signal_failure(failed: asyncio.Future[None], future: asyncio.Future[PubAck]) -> None:
    # Reading the exception also marks it retrieved, so asyncio does not warn about it.
    if not future.cancelled() and future.exception() is not None and not failed.done():
        failed.set_result(None)


def _fail_span(span: Span, exc: BaseException) -> None:
    span.record_exception(exc)
    span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
    span.end()


async def _wait(event: asyncio.Event, seconds: float) -> None:
    """Wait for ``event``, at most ``seconds``."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)


def _insert_for(store: EventStore) -> Any:
    return postgresql.insert if store.is_postgres else sqlite.insert


async def _read_checkpoint(conn: AsyncConnection, table: sa.Table, relay: str) -> Checkpoint:
    query = sa.select(table.c.tx_id, table.c.position).where(table.c.relay == relay)
    row = (await conn.execute(query)).first()
    return START if row is None else Checkpoint(int(row.tx_id), int(row.position))


async def relay_checkpoint(store: EventStore, *, relay: str = "relay") -> Checkpoint:
    """Where the named relay will continue from (START when it never ran)."""
    async with store.engine.connect() as conn:
        return await _read_checkpoint(conn, store.metadata.tables["relay_checkpoints"], relay)


async def rewind(store: EventStore, *, relay: str = "relay", to: Checkpoint = START) -> Checkpoint:
    """Move the relay's checkpoint to ``to`` so that it re-publishes everything after it.

    NATS is transport, not truth: when JetStream has lost messages, this makes the relay
    send them again from the event store. Copies still inside JetStream's duplicate
    window are dropped there; consumers dedupe the rest by event id. A running relay
    picks the new checkpoint up by itself. Returns the checkpoint it replaced.
    """
    table = store.metadata.tables["relay_checkpoints"]
    now = datetime.now(UTC)
    async with store.engine.begin() as conn:
        previous = await _read_checkpoint(conn, table, relay)
        await conn.execute(
            _insert_for(store)(table)
            .values(relay=relay, tx_id=to.tx_id, position=to.position, updated_at=now)
            .on_conflict_do_update(
                index_elements=["relay"],
                set_={"tx_id": to.tx_id, "position": to.position, "updated_at": now},
            )
        )
    log.warning("relay.rewound", relay=relay, previous=previous.encode(), to=to.encode())
    await store.notify()
    return previous
