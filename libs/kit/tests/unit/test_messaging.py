"""The message an event travels in equals its CloudEvent in binary mode."""

import uuid
from datetime import UTC, datetime

import orjson
import pytest

from mentorship_contracts import CloudEvent
from mentorship_contracts.catalog import load_all
from mentorship_kit.eventstore import EventMetadata, RecordedEvent
from mentorship_kit.messaging import MSG_ID_HEADER, to_cloudevent, to_message


def _recorded(event_type: str, stream_type: str, metadata: EventMetadata, micros: int):
    return RecordedEvent(
        position=7,
        tx_id=99,
        event_id=uuid.uuid4(),
        stream_type=stream_type,
        stream_id=f"{stream_type}-1",
        stream_version=3,
        event_type=event_type,
        schema_version=1,
        data={"pair_id": "p1", "nested": {"a": [1, 2]}},
        metadata=metadata,
        recorded_at=datetime(2026, 5, 6, 7, 8, 9, micros, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("event_type", "stream_type"), [("PairFormed", "pair"), ("SomethingUnregistered", "thing")]
)
@pytest.mark.parametrize("micros", [0, 123456])
@pytest.mark.parametrize(
    "metadata",
    [
        EventMetadata(),
        EventMetadata("c", "d", "emp-1", "admin", "00-" + "a" * 32 + "-" + "b" * 16 + "-01"),
    ],
)
def test_message_headers_equal_the_cloudevent_headers(event_type, stream_type, metadata, micros):
    load_all()
    event = _recorded(event_type, stream_type, metadata, micros)
    message = to_message(event, "matching")
    expected = to_cloudevent(event, "matching")
    assert message.headers == {**expected.to_headers(), MSG_ID_HEADER: str(event.event_id)}
    assert orjson.loads(message.payload) == expected.data
    assert CloudEvent.from_headers(message.headers, orjson.loads(message.payload)) == expected
