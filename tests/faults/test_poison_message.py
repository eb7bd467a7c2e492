"""Poison messages are dead-lettered, visible, and the stream keeps flowing.

Enrollment and analytics run as processes while the directory is being updated
steadily. Two poison messages are put on the enrollment stream, as a faulty publisher
would: one is not a CloudEvent at all (its body is not JSON), the other is a
well-formed CloudEvent of a known type whose data breaks the contract, so the analytics
handler fails on every delivery. The first is dead-lettered at once; the second after
its last allowed delivery, its retries spaced by the configured backoff. Both are listed
by ``GET /v1/admin/dead-letters`` with what is needed to replay them and counted by the
dead-letter gauge; an administrator can discard one. Meanwhile, and after, every event
enrollment commits is applied by analytics: one bad message holds up nothing else.
"""

from __future__ import annotations

import importlib
import re
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from mentorship_kit import messaging
from mentorship_kit.eventstore import EventMetadata, RecordedEvent
from mentorship_kit.testing import wait_until

sys.path.insert(0, str(Path(__file__).resolve().parent))
support = importlib.import_module("faults_support")

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

CONSUMER = "analytics-enrollment"
MAX_DELIVER = 3
GAUGE = re.compile(r"^mentorship_consumer_dead_letters\{(?P<labels>[^}]*)\} (?P<value>\S+)$")


def dead_letter_gauge(metrics: str) -> float | None:
    for line in metrics.splitlines():
        match = GAUGE.match(line)
        if match and f'consumer="{CONSUMER}"' in match["labels"]:
            return float(match["value"])
    return None


def broken_provisioning() -> messaging.OutgoingMessage:
    """An EmployeeProvisioned the contract refuses (an email that is a number, no names)."""
    event = RecordedEvent(
        position=0,
        tx_id=0,
        event_id=uuid.uuid4(),
        stream_type="employee",
        stream_id=f"employee-{support.unique('poison')}",
        stream_version=1,
        event_type="EmployeeProvisioned",
        schema_version=1,
        data={"employee_id": "poison", "record": {"email": 12}},
        metadata=EventMetadata(),
        recorded_at=datetime.now(UTC),
    )
    return messaging.to_message(event, "enrollment")


async def dead_letters(http: httpx.AsyncClient, analytics: str) -> dict[str, dict[str, object]]:
    answer = await http.get(
        f"{analytics}/v1/admin/dead-letters",
        params={"consumer": CONSUMER},
        headers=support.ADMIN,
    )
    answer.raise_for_status()
    return {item["event_id"]: item for item in answer.json()["items"]}


async def test_poison_messages_are_dead_lettered_and_the_stream_flows_on(
    postgres_server, nats_server, tmp_path
):
    async with (
        support.running_stack(
            tmp_path,
            postgres_server.url,
            [nats_server.url],
            services=["enrollment", "analytics"],
            ANALYTICS_CONSUMER_MAX_DELIVER=str(MAX_DELIVER),
            ANALYTICS_CONSUMER_BACKOFF_SECONDS="0.2,0.5",
        ) as stack,
        httpx.AsyncClient(timeout=30) as http,
    ):
        await stack.ready(http)
        analytics = stack.url("analytics")
        load = support.Load(http, stack, program_id="", pairs=[])
        async with support.steady_load(load):
            await load.until_more(40)
            nc = await messaging.connect(nats_server.url, name="faulty-publisher")
            try:
                js = nc.jetstream()
                unparseable_id = f"poison-{uuid.uuid4()}"
                await js.publish(
                    "mentorship.enrollment.employee.employee_updated",
                    b"{not json",
                    headers={messaging.MSG_ID_HEADER: unparseable_id},
                )
                broken = broken_provisioning()
                await js.publish(broken.subject, broken.payload, headers=broken.headers)
            finally:
                await nc.close()
            broken_id = broken.headers[messaging.MSG_ID_HEADER]

            async def both_dead_lettered() -> dict[str, dict[str, object]] | None:
                letters = await dead_letters(http, analytics)
                return letters if {unparseable_id, broken_id} <= set(letters) else None

            letters = await wait_until(both_dead_lettered, timeout=60, message="dead letters")
            await load.until_more(60)
            tally = await load.stop()

        await support.until_delivered(stack, [nats_server.url], sources=["enrollment"])
        handled = await support.handled_events(http, analytics)
        stored = await support.committed(stack.database_urls["enrollment"])
        gauge = dead_letter_gauge((await http.get(f"{analytics}/metrics")).text)
        discarded = await http.delete(
            f"{analytics}/v1/admin/dead-letters/{letters[unparseable_id]['id']}",
            headers=support.ADMIN,
        )
        remaining = await dead_letters(http, analytics)

    support.report("poison messages", tally, dead_letters=len(letters))
    unparseable, refused = letters[unparseable_id], letters[broken_id]
    assert unparseable["deliveries"] == 1
    assert "unparseable" in unparseable["error"]  # type: ignore[operator]
    assert unparseable["payload"] == "{not json"
    assert refused["deliveries"] == MAX_DELIVER
    assert "validation errors for EmployeeProvisioned" in refused["error"]  # type: ignore[operator]
    assert refused["headers"]["ce-type"] == broken.headers["ce-type"]  # type: ignore[index]
    assert refused["subject"] == broken.subject
    assert gauge == 2
    # Every event enrollment committed, before and after the poison, was applied.
    assert tally.total >= 100
    assert handled["enrollment"] == len(stored.event_ids)
    assert discarded.status_code == 204
    assert set(remaining) == {broken_id}
