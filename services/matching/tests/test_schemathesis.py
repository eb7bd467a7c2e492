"""Every operation of the matching OpenAPI, fuzzed with all of Schemathesis' checks
against the real service (uvicorn in a thread, SQLite, nats-server): one by one, then
in linked sequences (run a match, read and publish the run, answer its pairs...)."""

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from matching_support import ADMIN, Enrollment, build_app

from matching.adapters.tables import metadata
from matching.entrypoints.api.schemas import EXAMPLE_PROGRAM_ID
from mentorship_kit.db import create_engine
from mentorship_kit.eventstore import EventStore
from mentorship_kit.testing import LiveServer, NatsServer
from mentorship_kit.testing.fuzz import check, examples, openapi_schema, run_stateful


async def seed(url: str) -> None:
    """The OpenAPI's example program, open, with a few participants: the operations the
    fuzzer calls with it reach the engine and the stored runs, not only a 404."""
    engine = create_engine(url)
    try:
        await EventStore(engine, metadata=metadata).create_schema()
        pool = Enrollment(engine)
        program_id = await pool.program(capacity=2, program_id=EXAMPLE_PROGRAM_ID)
        for index in range(3):
            await pool.enroll(program_id, f"mentor-{index}", "mentor", offered=["python"])
        for index in range(4):
            await pool.enroll(program_id, f"mentee-{index}", "mentee", sought=["python"])
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def live_matching(tmp_path_factory) -> Iterator[LiveServer]:
    folder: Path = tmp_path_factory.mktemp("schemathesis")
    url = f"sqlite+aiosqlite:///{folder / 'matching.db'}"
    asyncio.run(seed(url))
    with (
        NatsServer(store_dir=folder / "nats") as nats_server,
        LiveServer(build_app(url, nats_server.url)) as server,
    ):
        yield server


# Schema-valid requests refused by design, with documented statuses the check does not
# expect by default: a made-up cursor (400; a cursor is opaque, so the schema cannot say
# which strings this API issued), rules JSON Schema cannot express (422 naming the
# field: a seniority gap whose min exceeds its max, a rematch naming someone who is not
# an enrolled mentee, a staff mentor request without a mentee), an unknown id (404), a
# state the request does not fit (409: a run published twice) and a pair's answer only
# its members may give (403).
schema = openapi_schema(
    build_app("sqlite+aiosqlite://", "nats://127.0.0.1:1").openapi(),
    accepted=["400", "403", "404", "409", "422"],
)


@schema.parametrize()
@examples(20)
def test_every_operation_conforms_to_the_openapi(case, live_matching):
    check(case, live_matching.url, ADMIN)


def test_linked_calls_conform_to_the_openapi(live_matching):
    run_stateful(schema, live_matching.url, ADMIN, scenarios=25)
