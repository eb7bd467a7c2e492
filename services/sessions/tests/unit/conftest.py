"""Builders for the domain's inputs: pairs, calendars, contexts."""

from datetime import UTC, date, datetime

import pytest

from sessions.domain.pairs import Pair, PairContext, ProgramCalendar

NOW = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)
TODAY = NOW.date()


def make_pair(status="active", **changes) -> Pair:
    values = {
        "pair_id": "pair-1",
        "program_id": "prog-1",
        "mentor_id": "mentor-1",
        "mentee_id": "mentee-1",
        "status": status,
        "formed_on": date(2025, 3, 1),
    }
    values.update(changes)
    return Pair(**values)


def make_calendar(**changes) -> ProgramCalendar:
    values = {
        "program_id": "prog-1",
        "starts_on": date(2025, 1, 1),
        "ends_on": date(2025, 12, 31),
        "cadence_days": 14,
    }
    values.update(changes)
    return ProgramCalendar(**values)


@pytest.fixture
def context() -> PairContext:
    return PairContext(make_pair(), make_calendar())


@pytest.fixture
def ended_context() -> PairContext:
    return PairContext(make_pair("ended", ended_on=date(2025, 6, 1)), make_calendar())
