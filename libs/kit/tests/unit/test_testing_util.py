"""The kit's test helpers: what a service stamps as "today", and free ports."""

import socket
from datetime import UTC, datetime, timedelta

from mentorship_kit.testing import free_port, free_port_base, utc_days, util


def test_utc_days_holds_the_dates_the_block_ran_on():
    with utc_days() as days:
        inside = datetime.now(UTC).date()

    assert inside in days
    assert len(days) == 1 or max(days) - min(days) == timedelta(days=1)


def test_free_port_never_hands_out_the_same_port_twice(monkeypatch):
    # A range of 24 ports: 20 random draws from it would repeat one almost surely.
    narrow = util._LOWEST_PORT + util._SPARE_PORTS + 24
    monkeypatch.setattr(util, "_ephemeral_start", lambda: narrow)
    monkeypatch.setattr(util, "_HANDED_OUT", set())

    ports = [free_port() for _ in range(20)]

    assert len(set(ports)) == len(ports)


def test_free_port_is_free_and_below_the_ephemeral_range():
    port = free_port()

    start = util._ephemeral_start()
    assert start is None or port < start
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", port))


def test_free_port_base_hands_out_free_ports_no_other_call_gets(monkeypatch):
    # Room for a few blocks of four: without the record, blocks and ports would overlap.
    narrow = util._LOWEST_PORT + util._SPARE_PORTS + 12
    monkeypatch.setattr(util, "_ephemeral_start", lambda: narrow)
    monkeypatch.setattr(util, "_HANDED_OUT", set())

    bases = [free_port_base(4) for _ in range(2)]
    singles = [free_port() for _ in range(4)]

    handed = [base + offset for base in bases for offset in range(1, 5)] + singles
    assert len(set(handed)) == len(handed)
    for port in handed:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", port))
