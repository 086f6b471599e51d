"""Is the library there? A missing root, or an empty one while tracks are known, is offline.

An unmounted drive usually leaves its mount point behind as an empty folder: scanning it
would mark the whole library missing, so an empty root with known tracks counts as offline.
A root that is another folder than when the scan started (a mount dropped or replaced
while files remain at the mount point) is offline too, for that scan.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
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
        return empty_root_problem(known_tracks)
    return None


def empty_root_problem(known_tracks: int) -> str:
    """Say why an empty root with tracks known is offline."""
    return f"The library root is empty while {known_tracks} tracks are known (not mounted?)."


NOT_ANSWERING = "The library root does not answer (a network mount whose server went away?)."


@dataclass
class _Look:
    root: Path
    done: threading.Event = field(default_factory=threading.Event)
    problem: str | None = None
    empty: bool = False


class RootCheck:
    """Looks at the library root for a caller that must answer in time (`/healthz`).

    A hard network mount whose server went away blocks stat() for good: one look runs at a
    time, in a daemon thread of its own, and a caller waits for it at most `timeout_s`; while
    a look is stuck, every caller hears at once that the root does not answer.
    """

    def __init__(self, timeout_s: float = 1.0) -> None:
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._look: _Look | None = None

    def look(self, root: Path) -> tuple[str | None, bool]:
        """Return why the root cannot be used (None: it can) and whether it is empty."""
        with self._lock:
            if self._look is None or self._look.done.is_set() or self._look.root != root:
                self._look = _Look(root)
                threading.Thread(target=_run_look, args=(root, self._look), daemon=True,
                                 name="root-check").start()  # fmt: skip
            look = self._look
        if not look.done.wait(self.timeout_s):
            return NOT_ANSWERING, False
        return look.problem, look.empty


def _run_look(root: Path, look: _Look) -> None:
    try:
        look.problem = library_problem(root, 0)  # missing or unreadable
        if look.problem is None:
            with os.scandir(root) as entries:
                look.empty = next(entries, None) is None
    except OSError as exc:
        look.problem = f"The library root cannot be listed: {exc.strerror}."
    finally:
        look.done.set()


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
