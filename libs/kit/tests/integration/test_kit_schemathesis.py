"""The endpoints every service gets from the kit, fuzzed with all of Schemathesis' checks
against a real server (uvicorn in a thread, SQLite, nats-server): one by one, then in
linked sequences (a dead letter listed, then discarded)."""

from collections.abc import Iterator

import pytest

from mentorship_kit.app import ServiceSpec, create_app
from mentorship_kit.auth import issue_dev_token
from mentorship_kit.eventstore import kit_metadata
from mentorship_kit.settings import DEFAULT_DEV_SECRET, ServiceSettings
from mentorship_kit.testing import LiveServer, NatsServer
from mentorship_kit.testing.fuzz import check, examples, openapi_schema, run_stateful

ADMIN = {"Authorization": f"Bearer {issue_dev_token(DEFAULT_DEV_SECRET, role='admin', sub='a')}"}


def build(database_url: str, nats_url: str):
    spec = ServiceSpec(name="kitfuzz", title="Kit endpoints", version="0", metadata=kit_metadata())
    settings = ServiceSettings(
        dev_mode=True, database_url=database_url, nats_url=nats_url, log_level="WARNING"
    )
    return create_app(spec, settings)


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("kitfuzz")
    with (
        NatsServer(store_dir=folder / "nats") as nats_server,
        LiveServer(build(f"sqlite+aiosqlite:///{folder / 'kit.db'}", nats_server.url)) as server,
    ):
        yield server


# A cursor is opaque: the schema cannot say which strings are cursors this API issued,
# so a made-up one is answered 400 (documented) although it is schema-valid; an unknown
# dead letter is a 404. The kit's own paths are what this run is for.
schema = openapi_schema(
    build("sqlite+aiosqlite://", "nats://127.0.0.1:1").openapi(),
    accepted=["400", "404"],
    exclude=None,
)


@schema.parametrize()
@examples(40)
def test_every_kit_operation_conforms_to_the_openapi(case, live):
    check(case, live.url, ADMIN)


def test_linked_kit_calls_conform_to_the_openapi(live):
    run_stateful(schema, live.url, ADMIN, scenarios=10)
