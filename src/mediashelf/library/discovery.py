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
from mediashelf.probe.formats import MEDIA_EXTENSIONS as DEFAULT_MEDIA_EXTENSIONS

log = logging.getLogger(__name__)

# The default set; the configured one (extensions_extra / _exclude) comes from Settings.
MEDIA_EXTENSIONS = DEFAULT_MEDIA_EXTENSIONS

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


def media_extension(name: str, extensions: frozenset[str] = MEDIA_EXTENSIONS) -> str | None:
    """Return the media extension of `name`, or None when it is not one of `extensions`."""
    if "." not in name:
        return None
    ext = name.rsplit(".", 1)[1].lower()
    return ext if ext in extensions else None


def check_root(root: Path) -> Path:
    """Return the resolved root, or raise LibraryUnavailable when it is not a readable folder."""
    try:
        real = root.resolve(strict=True)
    except OSError as exc:
        raise LibraryUnavailable("The library root does not exist or is offline.") from exc
    if not real.is_dir() or not os.access(real, os.R_OK | os.X_OK):
        raise LibraryUnavailable("The library root is not a readable folder.")
    return real


def scope_prefix(scope: str | None) -> str:
    """Return the relpath prefix ("a/b/") of a sub-folder scope, or "" for the whole library."""
    if not scope:
        return ""
    parts = [p for p in scope.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise LibraryUnavailable("The scan path must be a folder inside the library.")
    return "/".join(parts) + "/"


def walk(
    root: Path, scope: str | None = None, warn: Warn | None = None, after: str | None = None
) -> Iterator[DiscoveredFile]:
    """Yield every media file under `root` (or its sub-folder `scope`) in relpath order.

    The order is plain code-point order of the relpath strings, the same as the track
    store's ordered stream, so a scan can merge the two without holding either in memory.
    With `after`, files up to and including that relpath are skipped (resuming).
    """
    report = warn or log.warning
    real_root = check_root(root)
    prefix = scope_prefix(scope)
    start = real_root / prefix if prefix else real_root
    if prefix and (not start.is_dir() or not start.resolve().is_relative_to(real_root)):
        raise LibraryUnavailable("The scan path is not a folder inside the library.")
    top = start.stat()
    seen = {(top.st_dev, top.st_ino)}
    yield from _walk_folder(str(start), prefix, real_root, seen, after, report)


def _walk_folder(
    folder: str,
    prefix: str,
    root: Path,
    seen: set[tuple[int, int]],
    after: str | None,
    report: Warn,
) -> Iterator[DiscoveredFile]:
    for key, entry in _entries(folder, prefix, root, report):
        rel = prefix + entry.name
        if key.endswith("/"):
            sub = rel + "/"
            if after is not None and sub < after and not after.startswith(sub):
                continue  # the whole folder sorts before the resume point
            if _enter(entry, rel, seen, report):
                yield from _walk_folder(entry.path, sub, root, seen, after, report)
        elif after is None or rel > after:
            found = _media_file(entry, rel, report)
            if found is not None:
                yield found


def _entries(
    folder: str, prefix: str, root: Path, report: Warn
) -> list[tuple[str, os.DirEntry[str]]]:
    """Return the visible entries of `folder` keyed so that sorting gives relpath order."""
    try:
        with os.scandir(folder) as it:
            raw = list(it)
    except OSError as exc:
        report(f"Skipped unreadable folder {prefix.rstrip('/') or '.'!r}: {exc.strerror}")
        return []
    keyed: list[tuple[str, os.DirEntry[str]]] = []
    for entry in raw:
        if entry.name.startswith("."):
            continue
        if not _utf8(entry.name):
            report(f"Skipped a name that is not valid UTF-8 in {prefix.rstrip('/') or '.'!r}")
            continue
        try:
            if entry.is_symlink() and not Path(entry.path).resolve().is_relative_to(root):
                report(f"Ignored symlink leaving the library: {prefix + entry.name!r}")
                continue
            is_dir = entry.is_dir()
        except OSError as exc:
            report(f"Skipped {prefix + entry.name!r}: {exc.strerror}")
            continue
        if is_dir or media_extension(entry.name) is not None:
            keyed.append((entry.name + "/" if is_dir else entry.name, entry))
    keyed.sort(key=lambda pair: pair[0])
    return keyed


def _enter(entry: os.DirEntry[str], rel: str, seen: set[tuple[int, int]], report: Warn) -> bool:
    try:
        info = entry.stat()
    except OSError as exc:
        report(f"Skipped folder {rel!r}: {exc.strerror}")
        return False
    if (info.st_dev, info.st_ino) in seen:
        return False
    seen.add((info.st_dev, info.st_ino))
    return True


def _media_file(entry: os.DirEntry[str], rel: str, report: Warn) -> DiscoveredFile | None:
    try:
        if not entry.is_file():
            return None
        info = entry.stat()
    except OSError as exc:
        report(f"Skipped {rel!r}: {exc.strerror}")
        return None
    return DiscoveredFile(rel, info.st_size, info.st_mtime_ns)


def _utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
