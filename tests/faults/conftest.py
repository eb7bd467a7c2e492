"""Fixtures of the fault tests: a PostgreSQL server each test owns.

The services' databases live on a server started for the test (see
:class:`~mentorship_kit.testing.PostgresServer`), never on the shared one of
``TEST_DATABASE_URL``: one scenario stops it under load, and the others must not depend on
how many connections the rest of the machine's tests hold on the shared server.
"""

from collections.abc import Iterator

import pytest

from mentorship_kit.testing import PostgresServer, postgres_bin_dir


@pytest.fixture
def postgres_server() -> Iterator[PostgresServer]:
    if postgres_bin_dir() is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found")
    with PostgresServer() as server:
        yield server
