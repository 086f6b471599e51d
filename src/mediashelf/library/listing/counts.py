"""Counts of the track list (totals per filter, facets) kept in the process a short while.

An exact count over a million rows costs tens of milliseconds on either dialect, the facets
several times that, and the list would pay them on every page. So each count is remembered
per database, with the library's change stamp (the highest id and the latest `updated_at`,
two index lookups) at the time it was taken:

- while the stamp is unchanged, a count is reused for up to `TTL_S` (a change the stamp
  cannot see, such as a deleted row, shows within that time);
- when the stamp moved (a scan wrote), a count is taken again, except that one which was
  expensive to take (`STALE_FROM_S` or more) is reused for a while in proportion to its cost
  (at most `STALE_MAX_S`), so that pages stay quick during a scan of a large library. A small
  library's counts cost a millisecond and are therefore always exact.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Engine

T = TypeVar("T")
TTL_S = 60.0
STALE_MAX_S = 10.0
STALE_PER_COST = 20.0  # a count that took 0.2 s may be 4 s old once the library changed
STALE_FROM_S = 0.05  # counts cheaper than this are always taken again after a change
MAX_ENTRIES = 512


@dataclass(frozen=True)
class _Entry:
    value: Any
    stamp: Hashable
    taken_at: float
    cost_s: float


class CountCache:
    """Remembered counts of one database, keyed by what was counted."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._entries: dict[Hashable, _Entry] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, stamp: Hashable, compute: Callable[[], T]) -> T:
        """Return the remembered value of `key` while still good, else compute and keep it."""
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None and self._fresh(entry, stamp, now):
            value: T = entry.value
            return value
        value = compute()
        self._keep(key, _Entry(value, stamp, self._clock(), self._clock() - now))
        return value

    def recall(self, key: Hashable) -> Any:
        """Return the value of `key` kept less than `TTL_S` ago whatever the stamp, else None.

        For what only steers how a query is written (that a search matches many rows), where
        a stale answer costs time, never a wrong result.
        """
        with self._lock:
            entry = self._entries.get(key)
        if entry is None or self._clock() - entry.taken_at >= TTL_S:
            return None
        return entry.value

    def put(self, key: Hashable, stamp: Hashable, value: object) -> None:
        """Remember a count taken along the way (by a query that did other work too)."""
        self._keep(key, _Entry(value, stamp, self._clock(), 0.0))

    def _keep(self, key: Hashable, entry: _Entry) -> None:
        with self._lock:
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()  # many distinct searches: start over rather than grow
            self._entries[key] = entry

    @staticmethod
    def _fresh(entry: _Entry, stamp: Hashable, now: float) -> bool:
        age = now - entry.taken_at
        if entry.stamp == stamp:
            return age < TTL_S
        if entry.cost_s < STALE_FROM_S:
            return False
        return age < min(STALE_MAX_S, entry.cost_s * STALE_PER_COST)


_CACHES: weakref.WeakKeyDictionary[Engine, CountCache] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def cache_of(engine: Engine) -> CountCache:
    """Return the count cache of the database behind `engine` (one per engine)."""
    with _CACHES_LOCK:
        cache = _CACHES.get(engine)
        if cache is None:
            cache = _CACHES[engine] = CountCache()
        return cache
