"""Is the library there? A missing root, or an empty one while tracks are known, is offline.

An unmounted drive usually leaves its mount point behind as an empty folder: scanning it
would mark the whole library missing, so an empty root with known tracks counts as offline.
A root that is another folder than when the scan started (a mount dropped or replaced
while files remain at the mount point) is offline too, for that scan.
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


def root_is_empty(root: Path) -> bool:
    """Tell whether the root is a folder with nothing in it (False when it cannot be listed)."""
    try:
        with os.scandir(root) as entries:
            return next(entries, None) is None
    except OSError:
        return False


RootIdentity = int  # the inode of the root's real folder


def root_identity(root: Path) -> RootIdentity | None:
    """Return which folder the root is now (its inode), or None when it cannot tell.

    The inode, not the device: a network or FUSE file system mounted again (the library
    coming back) gets another device number but shows the same folder.
    """
    try:
        return check_root(root).stat().st_ino
    except (LibraryUnavailable, OSError):
        return None


def root_changed(root: Path, seen: RootIdentity | None) -> str | None:
    """Return why the root is not the folder `seen` at the scan's start, or None when it is."""
    now = root_identity(root)
    if seen is None or now is None or now == seen:
        return None
    return ("The library root is another folder than when the scan started (a mount dropped "
            "or replaced while files remain at the mount point?).")  # fmt: skip
