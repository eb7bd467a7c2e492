"""When a failed delivery is tried again, and when it is given up: a pure schedule.

The delay before retry ``n`` (n = 1 after the first failed attempt) doubles from
``initial`` up to ``maximum``, and is shortened by a random part of up to ``jitter``
of itself, so that deliveries failing together (a receiver down) spread out when
they come back instead of arriving in one burst. A delivery is given up when its next
attempt would fall after ``window`` from its first attempt (the first after it was
queued, or manually re-queued). The window starts at the first attempt, not when the
delivery was queued: deliveries waiting behind an earlier one of the same subscription
(sent strictly in order) do not use up their window while they wait.

With the defaults (5 s doubling to 1 h, a 24 h window) a delivery is attempted 33
times: at once, then after 5 s, 10 s, 20 s, ... 43 min, then every hour.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

Random = Callable[[], float]


def _uniform() -> float:
    return random.random()  # noqa: S311 - jitter, not cryptography


@dataclass(frozen=True)
class Backoff:
    initial: float
    maximum: float
    jitter: float
    window: float
    random: Random = field(default=_uniform, compare=False)

    def __post_init__(self) -> None:
        if not (0 < self.initial <= self.maximum) or not (0 <= self.jitter <= 1):
            msg = "need 0 < initial <= maximum and 0 <= jitter <= 1"
            raise ValueError(msg)
        if self.window <= 0:
            msg = "the retry window must be positive"
            raise ValueError(msg)

    def ceiling(self, retry: int) -> float:
        """The delay before retry ``retry`` (>= 1) without jitter."""
        if retry < 1:
            msg = "retries are numbered from 1"
            raise ValueError(msg)
        # Capped before the power grows past any float: 2**60 initial delays is forever.
        return min(self.maximum, self.initial * 2.0 ** min(retry - 1, 60))

    def delay(self, retry: int) -> float:
        """The jittered delay before retry ``retry``: within ``[(1-jitter)*c, c]``."""
        return self.ceiling(retry) * (1 - self.jitter * self.random())

    def next_attempt(
        self, *, first_attempt: datetime, now: datetime, retry: int
    ) -> datetime | None:
        """When to try again after attempt number ``retry`` failed at ``now``; None to
        give up. The window runs from the first attempt."""
        at = now + timedelta(seconds=self.delay(retry))
        if at > first_attempt + timedelta(seconds=self.window):
            return None
        return at
