"""Per-user limits, so that one person can't keep the model busy for everyone else.

Questions and drawings go through token buckets kept in memory per (platform, user): a
bucket of N refills evenly over its period, so a burst of N is fine and after it one more
comes every period / N. Trainings per day are counted from the jobs table instead (jobs
survive a restart, and only trainings that really were queued count). Admins are exempt; a
limit of 0 means none.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from typing import Callable

from storage import Store

MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0


class TokenBucket:
    """`size` tokens that refill evenly over `period` seconds."""

    def __init__(self, size: int, period: float, now: float) -> None:
        self.size = size
        self.rate = size / period  # tokens a second
        self.tokens = float(size)
        self.at = now

    def take(self, now: float) -> float:
        """Take a token: 0 when there was one, else the seconds until there will be (nothing taken)."""
        self.tokens = min(self.size, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


class Limits:
    def __init__(self, questions_per_minute: int, drawings_per_hour: int, trainings_per_day: int, *,
                 clock: Callable[[], float] = time.monotonic, capacity: int = 10_000) -> None:
        self.sizes = {"question": (questions_per_minute, MINUTE), "drawing": (drawings_per_hour, HOUR)}
        self.trainings_per_day = trainings_per_day
        self.clock = clock
        self._buckets: OrderedDict[tuple[str, str, str], TokenBucket] = OrderedDict()
        self._capacity = capacity

    def wait(self, kind: str, platform: str, user_id: str) -> float:
        """Take one `kind` ("question", "drawing") for this user: 0 to go ahead, else the seconds to wait."""
        size, period = self.sizes[kind]
        if size <= 0:
            return 0.0
        key, now = (kind, platform, user_id), self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(size, period, now)
        self._buckets.move_to_end(key)
        while len(self._buckets) > self._capacity:  # the oldest is the fullest: forgetting it is harmless
            self._buckets.popitem(last=False)
        return bucket.take(now)

    async def training_wait(self, store: Store, user_id: int) -> float:
        """0 when the user may queue another training today, else the seconds until the oldest
        of the last day's trainings is a day old. Counts, takes nothing: the queue's row does."""
        limit = self.trainings_per_day
        if limit <= 0:
            return 0.0
        now = store.now()
        times = await store.job_times_since(user_id, now - DAY)
        if len(times) < limit:
            return 0.0
        return max(1.0, times[len(times) - limit] + DAY - now)


def slow_down(seconds: float) -> str:
    """The reply to a request over its limit, with the wait in the unit a person would use."""
    seconds = max(1, math.ceil(round(seconds, 3)))  # 20.000000001 s is 20 s, not 21
    if seconds < 120:
        wait = f"{seconds} s"
    elif seconds < 2 * 3600:
        wait = f"{math.ceil(seconds / 60)} min"
    else:
        wait = f"{math.ceil(seconds / 3600)} h"
    return f"Slow down a little — try again in {wait}."
