"""The per-process count cache: exact while the library's change stamp holds, bounded after."""

from __future__ import annotations

from mediashelf.library.listing.counts import STALE_FROM_S, TTL_S, CountCache


class Clock:
    """A hand-moved monotonic clock."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_count_holds_while_the_stamp_does_and_for_ttl_at_most() -> None:
    clock = Clock()
    cache = CountCache(clock)
    calls: list[int] = []

    def count() -> int:
        calls.append(1)
        return len(calls)

    assert cache.get("k", (1, "a"), count) == 1
    assert cache.get("k", (1, "a"), count) == 1
    assert cache.get("k", (2, "a"), count) == 2  # cheap to take: taken again after a change
    clock.now += TTL_S
    assert cache.get("k", (2, "a"), count) == 3


def test_an_expensive_count_is_reused_a_while_after_a_change() -> None:
    clock = Clock()
    cache = CountCache(clock)

    def slow() -> int:
        clock.now += STALE_FROM_S * 2
        return 7

    assert cache.get("k", "s1", slow) == 7
    assert cache.get("k", "s2", lambda: 8) == 7  # the library changed, the count is reused
    clock.now += 60
    assert cache.get("k", "s2", lambda: 8) == 8


def test_recall_ignores_the_stamp_but_not_the_ttl() -> None:
    # For what only steers a query (a search has many matches): stale costs time, not truth.
    clock = Clock()
    cache = CountCache(clock)
    assert cache.recall("wide") is None
    cache.put("wide", None, True)
    assert cache.recall("wide") is True
    clock.now += TTL_S - 1
    assert cache.recall("wide") is True
    clock.now += 1
    assert cache.recall("wide") is None
