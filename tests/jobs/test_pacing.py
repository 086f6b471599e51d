"""Pacing by items and bytes per second, with an injected clock: exact waits, no timing."""

from __future__ import annotations

import pytest

from mediashelf.jobs.pacing import WAIT_SLICE_S, Pacer


class FakeTime:
    """A clock that moves only when something sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def test_items_per_second_spaces_items_exactly() -> None:
    fake = FakeTime()
    pacer = Pacer(fake.sleep, items_per_s=5, clock=fake.clock)
    for _ in range(10):
        pacer.next_item()
    assert sum(fake.slept) == pytest.approx(9 / 5)  # the first item starts at once
    assert fake.slept == pytest.approx([0.2] * 9)


def test_bytes_per_second_holds_back_the_next_item() -> None:
    fake = FakeTime()
    pacer = Pacer(fake.sleep, bytes_per_s=1_000_000, clock=fake.clock)
    pacer.next_item()
    pacer.used(3_000_000)  # a 3 MB file
    pacer.next_item()
    assert sum(fake.slept) == pytest.approx(3.0)
    assert max(fake.slept) <= WAIT_SLICE_S  # long waits are sliced, progress keeps flowing


def test_work_time_counts_towards_the_rate_and_waits_call_back() -> None:
    fake = FakeTime()
    calls: list[float] = []
    pacer = Pacer(fake.sleep, items_per_s=2, on_wait=lambda: calls.append(fake.now),
                  clock=fake.clock)  # fmt: skip
    pacer.next_item()
    fake.now += 0.4  # the first item took 0.4 s of work
    pacer.next_item()
    assert fake.slept == pytest.approx([0.1])
    assert calls == [pytest.approx(100.5)]


def test_no_rate_never_waits() -> None:
    fake = FakeTime()
    pacer = Pacer(fake.sleep, clock=fake.clock)
    for _ in range(100):
        pacer.next_item()
        pacer.used(10**9)
    assert fake.slept == []
