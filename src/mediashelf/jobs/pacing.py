"""Keeping a job to a rate (files per second, bytes per second) without going deaf.

Every wait goes through the job's own `sleep`, which wakes the moment the job is cancelled,
so a slow pace never delays a cancel.
"""

from __future__ import annotations

import time
from collections.abc import Callable

# DESIGN §5 wants a progress line at least every 2 s. A job writes one once LINE_AFTER_S
# passed since the last, and slices every wait at WAIT_SLICE_S: no gap reaches 2 s.
WAIT_SLICE_S = 0.5  # the longest single wait, so progress keeps being reported
LINE_AFTER_S = 1.5


class Pacer:
    """Hold a job to at most `items_per_s` items and `bytes_per_s` bytes per second."""

    def __init__(
        self,
        sleep: Callable[[float], None],
        items_per_s: float | None = None,
        bytes_per_s: float | None = None,
        on_wait: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sleep = sleep
        self.clock = clock
        self.items_per_s = items_per_s
        self.bytes_per_s = bytes_per_s
        self.on_wait = on_wait
        self.start: float | None = None  # the first item sets it: time before it is no credit
        self.items = 0
        self.bytes = 0

    def next_item(self) -> None:
        """Wait until one more item may start."""
        if self.start is None:
            self.start = self.clock()
        while (delay := self._due(self.start) - self.clock()) > 0:
            self.sleep(min(delay, WAIT_SLICE_S))
            if self.on_wait is not None:
                self.on_wait()
        self.items += 1

    def used(self, nbytes: int) -> None:
        """Count bytes read, so the next item waits long enough for the byte rate."""
        self.bytes += nbytes

    def _due(self, start: float) -> float:
        due = start
        if self.items_per_s:
            due = max(due, start + self.items / self.items_per_s)
        if self.bytes_per_s:
            due = max(due, start + self.bytes / self.bytes_per_s)
        return due
