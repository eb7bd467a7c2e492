"""Every operation of the sessions OpenAPI, fuzzed with all of Schemathesis' checks
against the real service (uvicorn in a thread, SQLite, nats-server): one by one, then
in linked sequences (a session logged, read, rescheduled; a goal set, changed...)."""

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from mentorship_contracts.enrollment import ProgramCreated
from mentorship_contracts.matching import PairFormed
from mentorship_kit.db import create_engine
from mentorship_kit.eventstore import EventStore
from mentorship_kit.testing import LiveServer, NatsServer
from mentorship_kit.testing.fuzz import check, examples, openapi_schema, run_stateful
from sessions.adapters.registry import PairRegistry, ProgramCalendars
from sessions.adapters.tables import metadata

from .conftest import TODAY, bearer, build_app, cloud_event, program_settings

PROGRAM = "fuzz-program"
PAIR = "fuzz-pair"
MENTOR = "fuzz-mentor"
# The calls are the mentor's: a member may do everything this API does with a pair
# (an admin may not set goals nor give feedback), so the runs reach every operation.
HEADERS = bearer("participant", MENTOR)


async def seed(url: str) -> None:
    """An active pair of a running program, as matching's and enrollment's events would
    leave it: admins log and schedule its sessions, so linked calls go on from there."""
    engine = create_engine(url)
    try:
        await EventStore(engine, metadata=metadata).create_schema()
        settings = program_settings(TODAY - timedelta(days=60), TODAY + timedelta(days=300), 14)
        formed = PairFormed(
            pair_id=PAIR,
            program_id=PROGRAM,
            mentor_id=MENTOR,
            mentee_id="fuzz-mentee",
            format="one_to_one",
            formed_on=TODAY,
        )
        async with engine.begin() as conn:
            created = ProgramCreated(program_id=PROGRAM, settings=settings)
            await ProgramCalendars().handle(conn, cloud_event(created, f"program-{PROGRAM}", 1))
            await PairRegistry().handle(conn, cloud_event(formed, PAIR, 1))
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def live_sessions(tmp_path_factory) -> Iterator[LiveServer]:
    folder: Path = tmp_path_factory.mktemp("schemathesis")
    url = f"sqlite+aiosqlite:///{folder / 'sessions.db'}"
    asyncio.run(seed(url))
    with (
        NatsServer(store_dir=folder / "nats") as nats_server,
        LiveServer(build_app(url, nats_server.url)) as server,
    ):
        yield server


# Schema-valid requests refused by design, with documented statuses the check does not
# expect by default: a made-up cursor (400; a cursor is opaque, so the schema cannot say
# which strings this API issued), an unknown pair, session or goal (404: generated ids),
# a state the request does not fit (409: a session already logged) and rules JSON Schema
# cannot express (422 naming the field: a day outside the program's dates).
schema = openapi_schema(
    build_app("sqlite+aiosqlite://", "nats://127.0.0.1:1").openapi(),
    accepted=["400", "404", "409", "422"],
    known={"path.pair_id": [PAIR]},
)


@schema.parametrize()
@examples(25)
def test_every_operation_conforms_to_the_openapi(case, live_sessions):
    check(case, live_sessions.url, HEADERS)


def test_linked_calls_conform_to_the_openapi(live_sessions):
    run_stateful(schema, live_sessions.url, HEADERS, scenarios=20)
