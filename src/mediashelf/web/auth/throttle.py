"""Failed log-ins counted per client: past the limit within the window, 429 until it slides."""

from __future__ import annotations

import math
import threading
from collections import OrderedDict, deque
from datetime import datetime, timedelta

from mediashelf.clock import Clock

MAX_CLIENTS = 10_000  # memory bound: the least recently failing clients are forgotten first


class LoginThrottle:
    """Remembers recent failed log-ins per client address (in memory, per process)."""

    def __init__(self, clock: Clock, max_failures: int, window_s: float) -> None:
        self.clock = clock
        self.max_failures = max_failures
        self.window = timedelta(seconds=window_s)
        self._failures: OrderedDict[str, deque[datetime]] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, client: str, now: datetime) -> deque[datetime]:
        times = self._failures.get(client, deque())
        while times and now - times[0] >= self.window:
            times.popleft()
        return times

    def retry_after(self, client: str) -> int | None:
        """Return the seconds `client` must wait before trying again, or None."""
        with self._lock:
            now = self.clock.now()
            times = self._recent(client, now)
            if len(times) < self.max_failures:
                return None
            wait = (times[0] + self.window - now).total_seconds()
            return max(1, math.ceil(wait))

    def failed(self, client: str) -> None:
        """Count a failed log-in."""
        with self._lock:
            now = self.clock.now()
            times = self._recent(client, now)
            times.append(now)
            self._failures[client] = times
            self._failures.move_to_end(client)
            while len(self._failures) > MAX_CLIENTS:
                self._failures.popitem(last=False)

    def succeeded(self, client: str) -> None:
        """Forget the client's failures."""
        with self._lock:
            self._failures.pop(client, None)
