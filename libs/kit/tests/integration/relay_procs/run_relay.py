"""A relay in a process of its own, for crash and takeover tests.

Prints one JSON line per log event and per acknowledged batch to stdout. With
``--crash-at-batch N`` it SIGKILLs itself inside ``on_acked`` of the Nth batch: after
JetStream acknowledged that batch and before the checkpoint moved past it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Sequence

import orjson
import structlog

from mentorship_kit.db import create_engine
from mentorship_kit.eventstore import EventStore, RecordedEvent
from mentorship_kit.messaging import connect
from mentorship_kit.relay import OutboxRelay


def emit(**fields: object) -> None:
    sys.stdout.write(orjson.dumps(fields).decode() + "\n")
    sys.stdout.flush()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--nats-url", required=True)
    parser.add_argument("--service", required=True)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--crash-at-batch", type=int, default=0)
    args = parser.parse_args()
    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.processors.JSONRenderer()],
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
    )
    batches = 0

    async def on_acked(events: Sequence[RecordedEvent]) -> None:
        nonlocal batches
        batches += 1
        emit(event="acked", pid=os.getpid(), count=len(events), batch=batches)
        if batches == args.crash_at_batch:
            os.kill(os.getpid(), signal.SIGKILL)

    engine = create_engine(args.database_url)
    nc = await connect(args.nats_url, name=f"relay-{os.getpid()}")
    relay = OutboxRelay(
        EventStore(engine),
        nc.jetstream(),
        service=args.service,
        batch_size=args.batch_size,
        on_acked=on_acked,
    )
    emit(event="started", pid=os.getpid())
    try:
        await relay.run()
    finally:
        await nc.close()
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
