"""The garbage-collector tuning a service applies once started."""

import gc

import pytest

from mentorship_kit.db import collect_young_every


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
