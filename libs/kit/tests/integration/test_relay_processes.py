"""Relays in processes of their own, killed with SIGKILL at the worst moments."""

import asyncio
import contextlib
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa
from nats.js.errors import NotFoundError
from prometheus_client import REGISTRY

from mentorship_kit.db import create_engine
from mentorship_kit.eventstore import START, Checkpoint, EventStore, NewEvent, RecordedEvent
from mentorship_kit.messaging import MSG_ID_HEADER, connect, stream_name
from mentorship_kit.relay import OutboxRelay, relay_checkpoint
from mentorship_kit.testing import stream_messages, wait_until

SERVICE = "relayproc"
SCRIPT = Path(__file__).parent / "relay_procs" / "run_relay.py"


class RelayProcess:
    """``run_relay.py`` in a child process; its JSON output lines land in a file."""

    def __init__(self, out: Path, *, database_url: str, nats_url: str, **options: int) -> None:
        self.out = out
        args = [
            sys.executable,
            str(SCRIPT),
            "--database-url",
            database_url,
            "--nats-url",
            nats_url,
            "--service",
            SERVICE,
        ]
        for option, value in options.items():
            args += [f"--{option.replace('_', '-')}", str(value)]
        self._sink = out.open("wb")
        self.process = subprocess.Popen(args, stdout=self._sink, stderr=subprocess.STDOUT)  # noqa: S603 - our script

    def lines(self) -> list[dict]:
        records = []
        for line in self.out.read_bytes().splitlines():
            with contextlib.suppress(orjson.JSONDecodeError):
                record = orjson.loads(line)
                if isinstance(record, dict):
                    records.append(record)
        return records

    def logged(self, event: str) -> bool:
        return any(record.get("event") == event for record in self.lines())

    def acked(self) -> int:
        return sum(r["count"] for r in self.lines() if r.get("event") == "acked")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def close(self) -> None:
        if self.process.poll() is None:
            self.kill()
        self._sink.close()

    def __repr__(self) -> str:
        return f"<RelayProcess {self.out.name}: {self.out.read_text(errors='replace')[-2000:]}>"


@pytest.fixture
async def store(database_url):
    engine = create_engine(database_url)
    store = EventStore(engine)
    await store.create_schema()
    yield store
    await engine.dispose()


@pytest.fixture
async def js(nats_server):
    nc = await connect(nats_server.url, name="relay-process-test")
    yield nc.jetstream()
    await nc.close()


@pytest.fixture
def relay_process(tmp_path, database_url, nats_server):
    started: list[RelayProcess] = []

    def start(name: str, **options: int) -> RelayProcess:
        process = RelayProcess(
            tmp_path / f"{name}.out",
            database_url=database_url,
            nats_url=nats_server.url,
            **options,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        process.close()


async def append_events(store: EventStore, *, streams: int, per_stream: int) -> list[RecordedEvent]:
    """Single-event transactions round robin over fresh streams, in commit order."""
    ids = [f"thing-{uuid.uuid4()}" for _ in range(streams)]
    recorded: list[RecordedEvent] = []
    for version in range(per_stream):
        for stream_id in ids:
            event = NewEvent("thing", stream_id, "ThingHappened", {"n": version})
            async with store.transaction() as conn:
                recorded += await store.append(conn, [event], expected_version=version)
    return recorded


async def published_ids(js) -> list[str]:
    return [msg.headers[MSG_ID_HEADER] for msg in await stream_messages(js, SERVICE)]


async def message_count(js) -> int:
    with contextlib.suppress(NotFoundError):
        return (await js.stream_info(stream_name(SERVICE))).state.messages
    return 0


async def caught_up(store: EventStore) -> bool:
    e = store.events.c
    query = sa.select(e.tx_id, e.position).order_by(e.tx_id.desc(), e.position.desc()).limit(1)
    async with store.engine.connect() as conn:
        row = (await conn.execute(query)).first()
    newest = START if row is None else Checkpoint(row.tx_id, row.position)
    return newest != START and await relay_checkpoint(store) == newest


def duplicates() -> float:
    labels = {"service": SERVICE, "relay": "relay"}
    return REGISTRY.get_sample_value("relay_duplicate_acks_total", labels) or 0.0


async def test_relay_killed_between_puback_and_checkpoint_loses_and_doubles_nothing(
    store, js, relay_process
):
    recorded = await append_events(store, streams=4, per_stream=25)

    crashing = relay_process("crashing", batch_size=20, crash_at_batch=3)
    returncode = await asyncio.to_thread(crashing.process.wait, 120)

    # It died inside on_acked of batch 3: JetStream holds that batch, the checkpoint
    # still points at the end of batch 2.
    assert returncode == -signal.SIGKILL, crashing
    assert crashing.acked() == 60
    assert await message_count(js) == 60
    assert await relay_checkpoint(store) == recorded[39].checkpoint

    duplicates_before = duplicates()
    restarted = asyncio.create_task(OutboxRelay(store, js, service=SERVICE, batch_size=20).run())
    try:
        await wait_until(lambda: caught_up(store), timeout=30, message="restarted relay done")
    finally:
        restarted.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await restarted

    # Batch 3 went out again and JetStream dropped every copy by Nats-Msg-Id.
    assert duplicates() - duplicates_before == 20
    assert await published_ids(js) == [str(e.event_id) for e in recorded]


async def test_standby_process_takes_over_when_the_leader_is_killed(store, js, relay_process):
    first = relay_process("first")
    await wait_until(lambda: first.logged("relay.leadership_gained"), timeout=120)
    second = relay_process("second")
    await wait_until(lambda: second.logged("leader.standing_by"), timeout=120)

    before = await append_events(store, streams=2, per_stream=25)
    await wait_until(lambda: caught_up(store), timeout=30, message="first relay done")
    assert first.acked() == 50
    assert second.acked() == 0, second  # exactly one relay publishes
    assert not second.logged("relay.leadership_gained")

    first.kill()
    after = await append_events(store, streams=2, per_stream=25)

    await wait_until(lambda: caught_up(store), timeout=30, message="standby done")
    assert second.logged("relay.leadership_gained")
    assert second.acked() >= 50
    assert await published_ids(js) == [str(e.event_id) for e in before + after]
