"""The kit's test helper for what a service stamps as "today"."""

from datetime import UTC, datetime, timedelta

from mentorship_kit.testing import utc_days


def test_utc_days_holds_the_dates_the_block_ran_on():
    with utc_days() as days:
        inside = datetime.now(UTC).date()

    assert inside in days
    assert len(days) == 1 or max(days) - min(days) == timedelta(days=1)
