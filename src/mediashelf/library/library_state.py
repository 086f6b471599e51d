"""Is the library there? A missing root, or an empty one while tracks are known, is offline.

An unmounted drive usually leaves its mount point behind as an empty folder: scanning it
would mark the whole library missing, so an empty root with known tracks counts as offline.
"""

from __future__ import annotations

import os
from pathlib import Path

from mediashelf.errors import LibraryUnavailable
from mediashelf.library.discovery import check_root


def library_problem(root: Path, known_tracks: int) -> str | None:
    """Return why the library looks offline, or None when it is there."""
    try:
        real = check_root(root)
    except LibraryUnavailable as exc:
        return exc.message
    if known_tracks <= 0:
        return None
    try:
        with os.scandir(real) as entries:
            empty = next(entries, None) is None
    except OSError as exc:
        return f"The library root cannot be listed: {exc.strerror}."
    if empty:
        return f"The library root is empty while {known_tracks} tracks are known (not mounted?)."
    return None
