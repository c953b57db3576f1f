"""Timing for the tests that check how a cost grows (linear, not quadratic): ratios, never absolute limits."""

from __future__ import annotations

import gc
import time
from typing import Callable


def cpu_seconds(work: Callable[[], object], tries: int = 3) -> float:
    """The least CPU time `work()` took over `tries` runs: CPU time, not wall time, and the best run,
    because another process may be busy; the collector off, because a collection landing in one
    run and not another is noise, not cost."""
    best = float("inf")
    gc.disable()
    try:
        for _ in range(tries):
            started = time.process_time()
            work()
            best = min(best, time.process_time() - started)
    finally:
        gc.enable()
    return best
