"""Splitting id lists so that no statement nears a dialect's bind-parameter limit.

SQLite allows 32,766 parameters per statement and PostgreSQL 65,535; a scan of a large
library can mark more files missing than that in one go.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")

ID_CHUNK = 1000


def chunks(items: Sequence[T], size: int = ID_CHUNK) -> list[Sequence[T]]:
    """Split `items` into consecutive slices of at most `size`."""
    return [items[i : i + size] for i in range(0, len(items), size)]
