"""Run a consumer that SIGKILLs its own process right after the N-th handled event's
commit and before its ack: the crash the exactly-once guarantee has to survive.

Usage: python crash_consumer.py DATABASE_URL NATS_URL CONSUMER KILL_AFTER ACK_WAIT
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from support import SERVICE, effect_recorder

from mentorship_contracts import CloudEvent
from mentorship_kit.consumer import ConsumerRuntime
from mentorship_kit.db import create_engine
from mentorship_kit.messaging import connect


async def main(
    database_url: str, nats_url: str, consumer: str, kill_after: int, ack_wait: float
) -> None:
    engine = create_engine(database_url)
    nc = await connect(nats_url, name="crash-consumer")
    handled = 0

    async def die_after_commit(_event: CloudEvent) -> None:
        nonlocal handled
        handled += 1
        if handled == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)

    runtime = ConsumerRuntime(
        engine,
        nc.jetstream(),
        consumer=consumer,
        source_service=SERVICE,
        service="test",
        handler=effect_recorder(consumer),
        batch_size=10,
        ack_wait=ack_wait,
        after_commit=die_after_commit,
    )
    await runtime.run()


if __name__ == "__main__":
    url, nats_url, consumer, kill_after, ack_wait = sys.argv[1:6]
    asyncio.run(main(url, nats_url, consumer, int(kill_after), float(ack_wait)))
