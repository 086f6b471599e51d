"""Waiting in tests: poll a condition until it holds, never sleep a guessed time."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(predicate: Callable[[], object], what: str, timeout_s: float = 30.0) -> None:
    """Poll `predicate()` every 0.02 s until it is truthy, or fail naming `what`."""
    if not holds_within(predicate, timeout_s):
        raise AssertionError(f"timed out after {timeout_s:g}s waiting for {what}")


def holds_within(predicate: Callable[[], object], timeout_s: float) -> bool:
    """Poll `predicate()` every 0.02 s; tell whether it became truthy within `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False
