"""The retry schedule: doubling, capped, jittered downwards, bounded by the window."""

from datetime import UTC, datetime, timedelta

import pytest

from analytics.webhooks.backoff import Backoff

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def schedule(**overrides) -> Backoff:
    values = {"initial": 5.0, "maximum": 3600.0, "jitter": 0.0, "window": 24 * 3600.0}
    return Backoff(**{**values, **overrides})


def test_delays_double_from_the_initial_one_up_to_the_maximum():
    backoff = schedule()
    assert [backoff.delay(n) for n in range(1, 12)] == [
        5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600,
    ]  # fmt: skip
    assert backoff.delay(500) == 3600


def test_jitter_shortens_a_delay_by_at_most_its_share():
    low = schedule(jitter=0.2, random=lambda: 1.0)
    high = schedule(jitter=0.2, random=lambda: 0.0)
    assert low.delay(3) == pytest.approx(16.0)
    assert high.delay(3) == pytest.approx(20.0)
    spread = Backoff(initial=5, maximum=3600, jitter=0.5, window=60)
    assert all(2.5 <= spread.delay(1) <= 5.0 for _ in range(200))


def test_a_delivery_is_attempted_33_times_in_a_day_then_given_up():
    backoff = schedule()
    now, attempts = T0, 1
    while (at := backoff.next_attempt(first_attempt=T0, now=now, retry=attempts)) is not None:
        now, attempts = at, attempts + 1
    # 10 doubling delays (5 s .. 2560 s: 1.4 h), then one an hour: 22 more in the day.
    assert attempts == 33
    assert timedelta(hours=23) <= now - T0 <= timedelta(hours=24)


def test_the_next_attempt_is_none_past_the_window():
    backoff = schedule(window=60.0)
    assert backoff.next_attempt(first_attempt=T0, now=T0, retry=1) == T0 + timedelta(seconds=5)
    assert backoff.next_attempt(first_attempt=T0, now=T0 + timedelta(seconds=56), retry=1) is None


@pytest.mark.parametrize(
    "values",
    [
        {"initial": 0},
        {"initial": 10, "maximum": 5},
        {"jitter": 1.5},
        {"window": 0},
    ],
)
def test_impossible_schedules_are_refused(values):
    with pytest.raises(ValueError, match=r"need|window"):
        schedule(**values)


def test_retries_are_numbered_from_one():
    with pytest.raises(ValueError, match="from 1"):
        schedule().delay(0)
