"""Retry timing: exponential backoff with jitter."""

from __future__ import annotations

import random


def backoff_s(attempt: int, base_s: float, max_s: float, rng: random.Random) -> float:
    """Return the delay before attempt `attempt + 1`: base·2^(attempt-1), capped, jittered ±50 %."""
    delay = min(max_s, base_s * 2.0 ** max(0, attempt - 1))
    return delay * (0.5 + rng.random())
