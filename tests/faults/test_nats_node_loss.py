"""Losing a NATS node under load loses no committed event.

Production runs a 3-node JetStream cluster with every stream replicated three times
(``NATS_STREAM_REPLICAS=3``). Here the four services run as processes, each given all
three servers' URLs, and a steady command load runs against enrollment, matching and
sessions. Once it is under way, the node leading the enrollment stream is killed
(SIGKILL): the two others elect a new leader, the services' connections move over, the
relays resume from their checkpoints. Commands keep being accepted throughout (they
only touch the event store), and once the load stops every event committed in every
store is on its JetStream stream exactly once and applied by every durable consumer
downstream (matching, sessions, analytics), up to each aggregate's last version.
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

import httpx
import nats
import nats.errors
import pytest

from mentorship_kit.messaging import stream_name
from mentorship_kit.testing import NatsCluster, wait_until

sys.path.insert(0, str(Path(__file__).resolve().parent))
support = importlib.import_module("faults_support")

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


async def stream_leaders(nats_urls: list[str], *, followers: int = 2) -> dict[str, str] | None:
    """Each source stream's leader node, once every stream is an R3 stream with a leader
    and ``followers`` current followers; None until then."""
    nc = await nats.connect(nats_urls)
    try:
        js = nc.jetstream()
        leaders = {}
        for source in support.SOURCES:
            info = await js.stream_info(stream_name(source))
            cluster = info.cluster
            if info.config.num_replicas != 3 or cluster is None or cluster.leader is None:
                return None
            if len([r for r in cluster.replicas or [] if r.current]) != followers:
                return None
            leaders[source] = cluster.leader
    except nats.errors.Error:
        return None
    else:
        return leaders
    finally:
        await nc.close()


async def test_killing_a_nats_node_under_load_loses_no_committed_event(postgres_server, tmp_path):
    with NatsCluster(size=3) as cluster:
        urls = cluster.urls
        async with (
            support.running_stack(
                tmp_path, postgres_server.url, urls, NATS_STREAM_REPLICAS="3"
            ) as stack,
            httpx.AsyncClient(timeout=30) as http,
        ):
            await stack.ready(http)
            await wait_until(
                lambda: stream_leaders(urls), timeout=60, interval=0.5, message="R3 streams"
            )
            program_id, pairs = await support.open_program(http, stack, pairs=2)
            load = support.Load(http, stack, program_id, pairs)
            async with support.steady_load(load):
                await load.until_more(60)
                leaders = await wait_until(
                    lambda: stream_leaders(urls), timeout=30, interval=0.2, message="leaders"
                )
                victim = next(n for n in cluster.nodes if n.name == leaders["enrollment"])
                victim.kill()
                at_kill = load.tally.total
                await load.until_more(150)
                tally = await load.stop()

            survivors = [node.url for node in cluster.nodes if node is not victim]
            load_stopped = time.monotonic()
            await support.until_delivered(stack, survivors)
            delivered_after = time.monotonic() - load_stopped
            handled = await support.handled_events(http, stack.url("analytics"))
            stored = {
                source: len((await support.committed(stack.database_urls[source])).event_ids)
                for source in support.SOURCES
            }
            after_failover = await wait_until(
                lambda: stream_leaders(survivors, followers=1),
                timeout=60,
                interval=0.5,
                message="streams led by a survivor with one current follower",
            )

    support.report(
        "NATS node loss",
        tally,
        killed=victim.name,
        leaders_before=leaders,
        leaders_after=after_failover,
        delivered_seconds_after_load=round(delivered_after, 2),
        stored_events=stored,
    )
    # Commands never noticed: the event store, not NATS, is on their path.
    assert tally.faults.total() == 0, tally.faults.seen
    assert tally.total - at_kill >= 150
    assert tally.acknowledged["session"] > 0
    assert tally.acknowledged["block"] > 0
    assert handled == stored
    # Every stream carries on with a surviving leader and one current follower of three.
    assert victim.name not in after_failover.values()
