"""Walking the library root: which files are media, and what they are called.

The walk streams entries one folder at a time (scandir), so memory follows the widest folder,
not the size of the library. Problems with single entries are reported and skipped, never fatal.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from pathlib import Path
from typing import NamedTuple

from mediashelf.errors import LibraryUnavailable
from mediashelf.library.ids import title_for, video_id_for
from mediashelf.probe.formats import MEDIA_EXTENSIONS as DEFAULT_MEDIA_EXTENSIONS

log = logging.getLogger(__name__)

# The default set; the configured one (extensions_extra / _exclude) comes from Settings.
MEDIA_EXTENSIONS = DEFAULT_MEDIA_EXTENSIONS


class DiscoveredFile(NamedTuple):
    """A media file found under the root, with the facts that need no probing.

    A named tuple, not a dataclass: a rescan of a million files makes a million of them.
    """

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


def is_own_folder(path: Path) -> bool:
    """Tell whether `path` (under the resolved root) is a folder reached without any link.

    Scopes follow the walk's rule (see `_enter`): a folder is scanned under its own path, so
    a scope through a link would list files under paths the full scan never gives them.
    """
    try:
        return path.resolve(strict=True) == path and path.is_dir()
    except (OSError, RuntimeError):
        return False


def scope_parts(scope: str) -> list[str]:
    """Return the folder names of a sub-folder scope, without empty and "." parts.

    Split at "/" only: a backslash is a name character on POSIX, so `A\\B` is one folder.
    """
    return [part for part in scope.split("/") if part not in ("", ".")]


def scope_prefix(scope: str | None) -> str:
    """Return the relpath prefix ("a/b/") of a sub-folder scope, or "" for the whole library."""
    if not scope:
        return ""
    parts = scope_parts(scope)
    if not parts or ".." in parts:
        raise LibraryUnavailable("The scan path must be a folder inside the library.")
    return "/".join(parts) + "/"


@dataclass(frozen=True)
class Skip:
    """An entry the walk could not take, and why (an error summary class)."""

    relpath: str
    # symlink_loop duplicate_link dangling_link outside_library unreadable bad_name not_a_file
    reason: str
    detail: str


SkipHandler = Callable[[Skip], None]


def _log_skip(skip: Skip) -> None:
    log.warning("Skipped %r (%s): %s", skip.relpath, skip.reason, skip.detail)


@dataclass(frozen=True)
class _Walk:
    root: Path
    seen: set[tuple[int, int]]
    after: str | None
    on_skip: SkipHandler
    extensions: frozenset[str]


def walk(
    root: Path,
    scope: str | None = None,
    on_skip: SkipHandler | None = None,
    after: str | None = None,
    extensions: frozenset[str] = MEDIA_EXTENSIONS,
) -> Iterator[DiscoveredFile]:
    """Yield every media file under `root` (or its sub-folder `scope`) in relpath order.

    The order is plain code-point order of the relpath strings, the same as the track
    store's ordered stream, so a scan can merge the two without holding either in memory.
    With `after`, files up to and including that relpath are skipped (resuming). Entries
    that cannot be taken (links to folders, which are walked under their own path; links
    that loop, dangle or leave the library; unreadable folders; names that are not UTF-8)
    go to `on_skip` and the walk goes on.
    """
    real_root = check_root(root)
    prefix = scope_prefix(scope)
    start = real_root / prefix if prefix else real_root
    if prefix and not is_own_folder(start):
        raise LibraryUnavailable(
            "The scan path is not a folder inside the library (by its own path, not a link)."
        )
    top = start.stat()
    state = _Walk(real_root, {(top.st_dev, top.st_ino)}, after, on_skip or _log_skip, extensions)
    # Files travel in one list per run of files, so each passes through one chain, not
    # through every level of the folder recursion: a million files cost seconds less.
    yield from chain.from_iterable(_walk_folder(state, str(start), prefix))


def _walk_folder(state: _Walk, folder: str, prefix: str) -> Iterator[list[DiscoveredFile]]:
    dir_fd = _open_folder(folder)
    try:
        yield from _walk_entries(state, folder, prefix, dir_fd)
    finally:
        if dir_fd is not None:
            os.close(dir_fd)


def _open_folder(folder: str) -> int | None:
    """Open `folder` for `stat` relative to it, or None (then each file's path is resolved)."""
    if os.stat not in os.supports_dir_fd:
        return None
    try:
        return os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return None


def _walk_entries(
    state: _Walk, folder: str, prefix: str, dir_fd: int | None
) -> Iterator[list[DiscoveredFile]]:
    after = state.after
    files: list[DiscoveredFile] = []
    for key, entry in _entries(state, folder, prefix):
        if isinstance(entry, Skip):  # reported in order, and once: not again when resuming
            if after is None or entry.relpath > after:
                state.on_skip(entry)
            continue
        rel = prefix + entry.name
        if key.endswith("/"):
            sub = rel + "/"
            if after is not None and sub < after and not after.startswith(sub):
                continue  # the whole folder sorts before the resume point
            if _enter(state, entry, rel):
                if files:
                    yield files
                    files = []
                yield from _walk_folder(state, entry.path, sub)
        elif after is None or rel > after:
            try:
                # Follows links: a link inside the library counts as a file. Relative to the
                # open folder, the kernel resolves one name instead of the whole path: about
                # a fifth less time per file, on a walk that is mostly these calls.
                info = entry.stat() if dir_fd is None else os.stat(entry.name, dir_fd=dir_fd)
            except OSError as exc:
                state.on_skip(Skip(rel, "unreadable", exc.strerror or "cannot read the file"))
                continue
            if stat.S_ISREG(info.st_mode):
                files.append(DiscoveredFile(rel, info.st_size, info.st_mtime_ns))
            else:  # probing a FIFO would block; a device is not a media file
                state.on_skip(Skip(rel, "not_a_file", "a FIFO, socket or device, not a file"))
    if files:
        yield files


def _entries(state: _Walk, folder: str, prefix: str) -> list[tuple[str, os.DirEntry[str] | Skip]]:
    """Return the visible entries of `folder` (or why one cannot be taken), in relpath order."""
    where = prefix.rstrip("/") or "."
    try:
        with os.scandir(folder) as it:
            raw = list(it)
    except OSError as exc:
        state.on_skip(Skip(where, "unreadable", exc.strerror or "cannot list the folder"))
        return []
    keyed: list[tuple[str, os.DirEntry[str] | Skip]] = []
    extensions = state.extensions
    for entry in raw:
        name = entry.name
        if name.startswith("."):
            continue
        if name.isascii() and not entry.is_symlink():  # the common case, decided from d_type
            try:
                if entry.is_dir():
                    keyed.append((name + "/", entry))
                    continue
            except OSError:
                pass  # let the careful path report it
            else:
                if name.rpartition(".")[2].lower() in extensions and "." in name:
                    keyed.append((name, entry))
                continue
        kind = _kind(state, entry, prefix)
        if isinstance(kind, Skip):
            keyed.append((name, kind))
        elif kind is not None:
            keyed.append((name + "/" if kind == "dir" else name, entry))
    keyed.sort(key=itemgetter(0))
    return keyed


def _kind(state: _Walk, entry: os.DirEntry[str], prefix: str) -> str | Skip | None:
    """Return "dir" or "file" for an entry the walk takes, a Skip for one it cannot take,
    None for one it passes over."""
    media = media_extension(entry.name, state.extensions) is not None
    if not _utf8(entry.name):
        shown = entry.name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        return Skip(prefix + shown, "bad_name", "the name is not valid UTF-8")
    rel = prefix + entry.name
    try:
        if entry.is_symlink():
            target = Path(entry.path).resolve(strict=True)
            if not target.is_relative_to(state.root):
                return Skip(rel, "outside_library", "the link points outside the library")
        is_dir = entry.is_dir()
    except RuntimeError:
        return Skip(rel, "symlink_loop", "the link points back into itself")
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return Skip(rel, "symlink_loop", "the link points back into itself")
        if exc.errno == errno.ENOENT and media:
            return Skip(rel, "dangling_link", "the link points to nothing")
        if media or exc.errno != errno.ENOENT:
            return Skip(rel, "unreadable", exc.strerror or "cannot read the entry")
        return None
    if is_dir:
        return "dir"
    return "file" if media else None


def _enter(state: _Walk, entry: os.DirEntry[str], rel: str) -> bool:
    """Tell whether to walk the folder `entry`; report why not when it is not walked.

    A folder is walked under its own path only, never through a link to it (links leaving
    the library are refused earlier). Following links made the files under a folder depend
    on where the walk began: a scan of one sub-folder went through a link back to the root
    and listed the whole library again under it, where the full scan had skipped the link.
    The seen set still catches one folder reached twice without links (a bind mount).
    """
    try:
        info = entry.stat()
    except OSError as exc:
        state.on_skip(Skip(rel, "unreadable", exc.strerror or "cannot read the folder"))
        return False
    if entry.is_symlink() or (info.st_dev, info.st_ino) in state.seen:
        target = os.path.realpath(entry.path)
        parent = os.path.realpath(os.path.dirname(entry.path))
        if parent == target or parent.startswith(target.rstrip("/") + "/"):
            state.on_skip(Skip(rel, "symlink_loop", "the link points back into itself"))
        else:
            state.on_skip(Skip(rel, "duplicate_link", "the folder is walked under its own path"))
        return False
    state.seen.add((info.st_dev, info.st_ino))
    return True


def _utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
