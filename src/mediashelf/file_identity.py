"""Which file or folder a path leads to now: its (device, inode).

A path can lead somewhere else while a process holds what it opened there: a SQLite file
deleted or replaced under the service, a library root remounted or a link repointed. Both
the database and the watcher compare this before trusting what they hold.
"""

from __future__ import annotations

from pathlib import Path


def file_identity(path: Path) -> tuple[int, int] | None:
    """Return (device, inode) of what `path` leads to, None when nothing is there."""
    try:
        info = path.stat()
    except OSError:
        return None
    return (info.st_dev, info.st_ino)
