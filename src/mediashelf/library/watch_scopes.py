"""Turning a burst of file-system changes into a few scan scopes, once the files are stable.

Pure logic: the file system is reached only through the `Look` it is given, and time is a
number passed in, so the rules below are tested without a watcher or a clock.

- A burst ends after `quiet_s` without events; then every path seen is looked at again, and
  a file whose size or mtime moved (or one found inside a new folder that no event named)
  starts another quiet period: nothing half written is handed to a scan. A burst that goes
  on for long (a download writing for an hour) hands over, now and then, the folders whose
  files held still for a quiet period, and keeps the ones still being written.
- Each change names a folder: a new or changed folder itself, else the folder holding the
  path, walked up to the nearest folder that still exists (a deleted album names its artist).
- A burst with deletions and additions may hold renames (watchfiles reports a rename as a
  deletion plus an addition, without pairing them), so all their folders become one scope,
  their common ancestor: a rename's old and new place are always in one scan.
- The folders are reduced to the fewest that cover them; more than `max_scopes` become
  their common ancestor. "" is the whole library.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

MAX_SCOPES = 4  # more folders than this in one burst: scan their common ancestor instead
MAX_PATHS = 50_000  # paths remembered per burst; beyond it the burst scans the whole library
WALK_CAP = 20_000  # entries looked at inside new folders per stability check
LONG_BURST_S = 60.0  # a burst longer than this (or LONG_BURST_QUIETS quiet periods) hands
LONG_BURST_QUIETS = 12  # over the folders that held still, keeping those still being written

DIR = "dir"
Seen = tuple[int, int] | str | None  # (size, mtime_ns) of a file, DIR, or None when absent


class Kind(Enum):
    """What happened to a path."""

    ADDED = "added"
    MODIFIED = "modified"
    DELETED = "deleted"


@dataclass(frozen=True)
class Change:
    """One change under the root: its kind and POSIX path relative to the root."""

    kind: Kind
    relpath: str


class Look(Protocol):
    """The file system as the coalescer sees it (relative POSIX paths; "" is the root)."""

    def seen(self, relpath: str) -> Seen:
        """Return the file's (size, mtime_ns), DIR for a folder, None when nothing is there."""
        ...

    def files_under(self, relpath: str, cap: int) -> list[str]:
        """Return up to `cap` file paths anywhere under the folder `relpath`."""
        ...


def parent(relpath: str) -> str:
    """Return the folder holding `relpath` ("" for the root's own entries)."""
    return relpath.rsplit("/", 1)[0] if "/" in relpath else ""


def ancestors(relpath: str) -> list[str]:
    """Return the folders above `relpath` inside the library ("a", "a/b" for "a/b/c")."""
    parts = relpath.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def is_within(relpath: str, folder: str) -> bool:
    """Tell whether `relpath` is `folder` or lies below it."""
    return folder in ("", relpath) or relpath.startswith(folder + "/")


def common_ancestor(folders: Iterable[str]) -> str:
    """Return the deepest folder containing every one of `folders`."""
    split = [f.split("/") if f else [] for f in folders]
    if not split:
        return ""
    shared: list[str] = []
    for parts in zip(*split, strict=False):
        if any(part != parts[0] for part in parts):
            break
        shared.append(parts[0])
    return "/".join(shared)


def covering(folders: Iterable[str]) -> list[str]:
    """Return the fewest of `folders` that contain all of them, sorted."""
    kept: list[str] = []
    for folder in sorted(set(folders), key=lambda f: (f.count("/"), len(f), f)):
        if not any(is_within(folder, k) for k in kept):
            kept.append(folder)
    return sorted(kept)


def plan_scopes(folders: Iterable[str], max_scopes: int = MAX_SCOPES) -> list[str]:
    """Return the folders to scan: the fewest covering `folders`, or their common ancestor."""
    cover = covering(folders)
    if len(cover) > max_scopes:
        return [common_ancestor(cover)]
    return cover


def existing_folder(relpath: str, look: Look) -> str:
    """Return `relpath` when it is a folder, else the nearest existing folder above it."""
    current = relpath
    while current and look.seen(current) != DIR:
        current = parent(current)
    return current


@dataclass
class Burst:
    """Changes since the last hand-over, and what each path looked like when last seen."""

    quiet_s: float
    max_scopes: int = MAX_SCOPES
    kinds: dict[str, set[Kind]] = field(default_factory=dict)
    observed: dict[str, Seen] = field(default_factory=dict)
    moved_at: dict[str, float] = field(default_factory=dict)  # last event or change per path
    overflow: bool = False
    quiet_since: float | None = None  # last event, or last check that found something moving
    started: float | None = None  # first event not handed over yet
    handed_deleted: list[str] = field(default_factory=list)  # gone paths of the last hand-over

    @property
    def max_age_s(self) -> float:
        """Return how long a burst may last before its quiet parts are handed over alone."""
        return max(LONG_BURST_S, LONG_BURST_QUIETS * self.quiet_s)

    def add(self, changes: Iterable[Change], look: Look, now: float) -> None:
        """Record `changes` (seen at `now`) and restart the quiet period."""
        for change in changes:
            if len(self.kinds) >= MAX_PATHS and change.relpath not in self.kinds:
                self.overflow = True
                continue
            self.kinds.setdefault(change.relpath, set()).add(change.kind)
            self.observed[change.relpath] = look.seen(change.relpath)
            self.moved_at[change.relpath] = now
        self.quiet_since = now
        if self.started is None:
            self.started = now

    @property
    def empty(self) -> bool:
        """Tell whether nothing is waiting."""
        return not self.kinds and not self.overflow

    def due(self, now: float) -> bool:
        """Tell whether the quiet period has passed, or the burst has gone on for too long."""
        if self.quiet_since is None or self.started is None:
            return False
        return now - self.quiet_since >= self.quiet_s or now - self.started >= self.max_age_s

    def settle(self, look: Look, now: float) -> list[str] | None:
        """Return the scopes to scan once their files held still; else None and wait again.

        Normally the whole burst is handed over after a quiet period. A burst that goes on
        for longer than `max_age_s` (a download writing for hours) hands over the scopes
        whose files have held still, so the rest of the library is not kept waiting.
        """
        fresh = {path: look.seen(path) for path in self.observed}
        budget = WALK_CAP
        for path, kinds in self.kinds.items():
            if fresh.get(path) == DIR and Kind.ADDED in kinds and budget > 0:
                inside = look.files_under(path, budget)
                budget -= len(inside)
                fresh.update({f: look.seen(f) for f in inside if f not in fresh})
        moving = [p for p, seen in fresh.items() if self.observed.get(p, "unseen") != seen]
        self.observed.update(fresh)
        self.moved_at.update(dict.fromkeys(moving, now))
        if moving or self.quiet_since is None:
            self.quiet_since = now
        elif now - self.quiet_since >= self.quiet_s:
            scopes = self.scopes(look)
            self.handed_deleted = self._deleted(lambda _path: True)
            self._forget(lambda _path: True)
            return scopes
        assert self.started is not None
        if now - self.started < self.max_age_s:
            return None
        self.started = now  # the next partial hand-over comes one max_age_s later at the earliest
        return self._quiet_part(look, now)

    def _quiet_part(self, look: Look, now: float) -> list[str] | None:
        hot = [p for p, at in self.moved_at.items() if now - at < self.quiet_s]
        if self.overflow:
            return None
        ready = [s for s in self.scopes(look) if not any(is_within(h, s) for h in hot)]
        if not ready:
            return None
        self.handed_deleted = self._deleted(lambda path: any(is_within(path, s) for s in ready))
        self._forget(lambda path: any(is_within(path, s) for s in ready))
        return ready

    def _deleted(self, handed: Callable[[str], bool]) -> list[str]:
        """Return the handed paths seen deleted and still gone at the last look, outermost
        only (a folder deleted file by file is reported with each of its files)."""
        gone = {
            path
            for path, kinds in self.kinds.items()
            if Kind.DELETED in kinds and self.observed.get(path) is None and handed(path)
        }
        return sorted(path for path in gone if not any(a in gone for a in ancestors(path)))

    def _forget(self, handed: Callable[[str], bool]) -> None:
        """Drop the paths a hand-over covers."""
        for table in (self.kinds, self.observed, self.moved_at):
            for path in [p for p in table if handed(p)]:
                del table[path]
        if not self.kinds:
            self.observed, self.moved_at, self.overflow = {}, {}, False
            self.quiet_since = self.started = None

    def scopes(self, look: Look) -> list[str]:
        """Return the scopes that cover every change of the burst."""
        if self.overflow:
            return [""]
        folders: dict[str, str] = {}
        for path, kinds in self.kinds.items():
            here = path if Kind.DELETED not in kinds else parent(path)
            folders[path] = existing_folder(here, look)
        deleted = {folders[p] for p, k in self.kinds.items() if Kind.DELETED in k}
        added = {folders[p] for p, k in self.kinds.items() if Kind.ADDED in k}
        others = set(folders.values()) - deleted - added
        if deleted and added:  # possibly renames: both ends in one scan
            return plan_scopes([*others, common_ancestor(deleted | added)], self.max_scopes)
        return plan_scopes(folders.values(), self.max_scopes)
