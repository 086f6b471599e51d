"""Walking the library root: which files are media, and what they are called.

The walk streams entries one folder at a time (scandir), so memory follows the widest folder,
not the size of the library. Problems with single entries are reported and skipped, never fatal.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from mediashelf.errors import LibraryUnavailable
from mediashelf.library.ids import title_for, video_id_for

log = logging.getLogger(__name__)

AUDIO_EXTENSIONS = frozenset(
    {"mp3", "m4a", "m4b", "aac", "flac", "ogg", "oga", "opus", "wav", "wv", "ape", "aif", "aiff",
     "wma", "mka", "alac", "dsf", "mpc"}
)  # fmt: skip
VIDEO_EXTENSIONS = frozenset(
    {"mp4", "m4v", "mkv", "webm", "mov", "avi", "wmv", "flv", "ts", "m2ts", "mts", "mpg", "mpeg",
     "3gp", "ogv", "vob"}
)  # fmt: skip
MEDIA_EXTENSIONS = AUDIO_EXTENSIONS | VIDEO_EXTENSIONS

Warn = Callable[[str], None]


@dataclass(frozen=True)
class DiscoveredFile:
    """A media file found under the root, with the facts that need no probing."""

    relpath: str
    size: int
    mtime_ns: int

    @property
    def filetype(self) -> str:
        """Return the lower-case extension without its dot."""
        return self.relpath.rsplit(".", 1)[-1].lower()

    @property
    def video_id(self) -> str:
        """Return the id this file gets when it becomes a new track."""
        return video_id_for(self.relpath)

    @property
    def title(self) -> str:
        """Return the display title."""
        return title_for(self.relpath)


def media_extension(name: str) -> str | None:
    """Return the media extension of `name`, or None when it is not a media file."""
    if "." not in name:
        return None
    ext = name.rsplit(".", 1)[1].lower()
    return ext if ext in MEDIA_EXTENSIONS else None


def check_root(root: Path) -> Path:
    """Return the resolved root, or raise LibraryUnavailable when it is not a readable folder."""
    try:
        real = root.resolve(strict=True)
    except OSError as exc:
        raise LibraryUnavailable("The library root does not exist or is offline.") from exc
    if not real.is_dir() or not os.access(real, os.R_OK | os.X_OK):
        raise LibraryUnavailable("The library root is not a readable folder.")
    return real


def walk(
    root: Path, scope: str | None = None, warn: Warn | None = None
) -> Iterator[DiscoveredFile]:
    """Yield every media file under `root` (or under its sub-folder `scope`), sorted per folder."""
    report = warn or log.warning
    real_root = check_root(root)
    start = real_root / scope if scope else real_root
    if scope and not start.resolve().is_relative_to(real_root):
        raise LibraryUnavailable("The scan path leaves the library root.")
    stack = [start]
    top = start.stat()
    seen_dirs: set[tuple[int, int]] = {(top.st_dev, top.st_ino)}
    while stack:
        folder = stack.pop()
        subfolders: list[Path] = []
        for entry in _entries(folder, real_root, report):
            found = _visit(entry, real_root, seen_dirs, subfolders, report)
            if found is not None:
                yield found
        stack.extend(reversed(subfolders))


def _entries(folder: Path, root: Path, report: Warn) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as it:
            return sorted(it, key=lambda e: e.name)
    except OSError as exc:
        report(f"Skipped unreadable folder {_rel(folder, root)!r}: {exc.strerror}")
        return []


def _visit(
    entry: os.DirEntry[str],
    root: Path,
    seen_dirs: set[tuple[int, int]],
    subfolders: list[Path],
    report: Warn,
) -> DiscoveredFile | None:
    path = Path(entry.path)
    if entry.name.startswith("."):
        return None
    if not _utf8(entry.name):
        report(f"Skipped a name that is not valid UTF-8 in {_rel(path.parent, root)!r}")
        return None
    try:
        if entry.is_symlink() and not path.resolve().is_relative_to(root):
            report(f"Ignored symlink leaving the library: {_rel(path, root)!r}")
            return None
        if entry.is_dir():
            info = entry.stat()
            if (info.st_dev, info.st_ino) not in seen_dirs:
                seen_dirs.add((info.st_dev, info.st_ino))
                subfolders.append(path)
            return None
        if not entry.is_file() or media_extension(entry.name) is None:
            return None
        info = entry.stat()
    except OSError as exc:
        report(f"Skipped {_rel(path, root)!r}: {exc.strerror}")
        return None
    return DiscoveredFile(_rel(path, root), info.st_size, info.st_mtime_ns)


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.name


def _utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
