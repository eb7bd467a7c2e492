"""The PostgreSQL server fault tests own: a crash (immediate stop) and a recovery.

What the database-outage tests rely on: an immediate stop cuts every connection at once,
a committed transaction survives it (WAL recovery at the next start), an open one does
not, and the server comes back on the same port.
"""

import asyncpg
import pytest

from mentorship_kit.testing import PostgresServer, postgres_bin_dir

pytestmark = pytest.mark.skipif(
    postgres_bin_dir() is None, reason="PostgreSQL server binaries (initdb, pg_ctl) not found"
)


async def test_an_immediate_stop_keeps_what_was_committed_and_nothing_else():
    with PostgresServer() as server:
        conn = await asyncpg.connect(server.url)
        await conn.execute("CREATE TABLE facts (n int)")
        await conn.execute("INSERT INTO facts VALUES (1)")
        open_transaction = conn.transaction()
        await open_transaction.start()
        await conn.execute("INSERT INTO facts VALUES (2)")

        server.stop(mode="immediate")

        with pytest.raises((asyncpg.PostgresConnectionError, OSError)):
            await conn.fetchval("SELECT 1")
        with pytest.raises(ConnectionRefusedError):
            await asyncpg.connect(server.url, timeout=5)
        server.start()
        again = await asyncpg.connect(server.url)
        try:
            assert await again.fetch("SELECT n FROM facts") == [(1,)]
        finally:
            await again.close()
    assert not server.folder.exists()
