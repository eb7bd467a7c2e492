"""The garbage-collector tuning a service applies once started."""

import gc

import pytest

from mentorship_kit.db import collect_young_every, relaxed_collector


@pytest.fixture
def thresholds():
    before = gc.get_threshold()
    yield before
    gc.set_threshold(*before)


def test_young_collections_are_spaced_and_older_ratios_kept(thresholds):
    collect_young_every(20_000)

    assert gc.get_threshold() == (20_000, thresholds[1], thresholds[2])


def test_zero_keeps_the_interpreter_default(thresholds):
    collect_young_every(0)

    assert gc.get_threshold() == thresholds


def test_overlapping_relaxations_share_the_highest_and_the_last_restores(thresholds):
    collect_young_every(20_000)
    first = relaxed_collector(50_000)
    second = relaxed_collector(100_000)

    first.__enter__()
    assert gc.get_threshold()[0] == 50_000
    second.__enter__()
    assert gc.get_threshold()[0] == 100_000
    first.__exit__(None, None, None)
    assert gc.get_threshold()[0] == 100_000  # the other block still runs
    second.__exit__(None, None, None)

    assert gc.get_threshold() == (20_000, thresholds[1], thresholds[2])


def test_a_relaxation_never_lowers_the_threshold(thresholds):
    collect_young_every(200_000)
    with relaxed_collector(50_000):
        assert gc.get_threshold()[0] == 200_000
    assert gc.get_threshold()[0] == 200_000
