"""Waiting on what real `yo` processes write to a data folder."""

from __future__ import annotations

import sqlite3
import time
from typing import Callable


def until(condition: Callable[[], object], timeout: float, what: str) -> None:
    """Poll `condition` (which may read the database) until it holds; a database not yet migrated,
    or busy, counts as not yet."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except sqlite3.OperationalError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)
