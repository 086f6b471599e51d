"""Time as a dependency, so tests can pin it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """Source of the current time (always timezone-aware UTC)."""

    def now(self) -> datetime:
        """Return the current UTC time."""
        ...


class SystemClock:
    """The real wall clock."""

    def now(self) -> datetime:
        """Return the current UTC time."""
        return datetime.now(UTC)


class FixedClock:
    """A clock that only moves when told to; for tests and reproducible runs."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def now(self) -> datetime:
        """Return the pinned time."""
        return self._now

    def set(self, value: datetime) -> None:
        """Move the clock to `value`."""
        self._now = value
