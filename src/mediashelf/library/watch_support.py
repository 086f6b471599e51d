"""Can file-system events be trusted for this library? File-system types and inotify limits.

inotify reports only changes made through this machine's kernel: on NFS, SMB/CIFS and FUSE
mounts (sshfs, rclone, …) another host's changes never arrive, so such a root, or such a
mount inside it, is watched by periodic scans instead. So is a library with more folders
than the per-user inotify watch limit allows.
"""

from __future__ import annotations

import os
import stat
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mediashelf.library.watch_scopes import DIR, Seen

MOUNTINFO = Path("/proc/self/mountinfo")
INOTIFY_WATCHES = Path("/proc/sys/fs/inotify/max_user_watches")

Mode = Literal["events", "polling", "off"]


@dataclass(frozen=True)
class WatchState:
    """How the library is being followed, and why not by events when it is not.

    Here, not in `watch`, so that a process asking only for the state (a scan, /healthz
    without watch mode) does not import watchfiles.
    """

    mode: Mode
    reason: str | None = None

    def as_json(self) -> dict[str, str | None]:
        """Return the state as /healthz shows it."""
        return {"mode": self.mode, "reason": self.reason}


# File systems where inotify misses changes made elsewhere (prefix match for "fuse.*").
NO_EVENT_TYPES = (
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "fuse", "9p", "afs", "ceph", "glusterfs",
    "lustre", "gpfs", "beegfs", "davfs", "virtiofs", "vboxsf", "vmhgfs", "sshfs", "ncpfs",
)  # fmt: skip


@dataclass(frozen=True)
class Mount:
    """One line of /proc/self/mountinfo: where a file system is mounted and its type."""

    point: str
    fstype: str
    mount_id: int = 0  # the kernel's id of this mount: a remount at the same point has another


# Returns the mounts of this process (injectable, so tests can pretend a root is NFS).
MountTable = Callable[[], list[Mount]]


def _unescape(field: str) -> str:
    """Undo mountinfo's octal escapes (\\040 is a space)."""
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text: str) -> list[Mount]:
    """Return the mounts listed in mountinfo `text`."""
    mounts = []
    for line in text.splitlines():
        head, sep, tail = line.partition(" - ")
        fields = head.split()
        if sep and len(fields) >= 5 and tail.split():
            mount_id = int(fields[0]) if fields[0].isdigit() else 0
            mounts.append(Mount(_unescape(fields[4]), tail.split()[0], mount_id))
    return mounts


def system_mounts() -> list[Mount]:
    """Return this process's mounts (empty when /proc is not there)."""
    try:
        return parse_mountinfo(MOUNTINFO.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return []


def stat_fstype(path: Path) -> str | None:
    """Return the file-system type name `stat -f` gives for `path` (the fallback without /proc)."""
    try:
        done = subprocess.run(
            ["stat", "-f", "-c", "%T", str(path)], capture_output=True, text=True, timeout=5,
            check=False,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    name = done.stdout.strip()
    return name if done.returncode == 0 and name else None


def no_events(fstype: str) -> bool:
    """Tell whether inotify misses changes on a file system of type `fstype`."""
    base = fstype.lower()
    return base.startswith("fuse") or base.split(".")[0] in NO_EVENT_TYPES


def _within(path: str, point: str) -> bool:
    return point in ("/", path) or path.startswith(point.rstrip("/") + "/")


def fstype_of(root: Path, mounts: list[Mount]) -> str | None:
    """Return the type of the file system holding `root` (the longest mount point above it)."""
    real = str(root.resolve())
    holding = [m for m in mounts if _within(real, m.point)]
    if not holding:
        return stat_fstype(root)
    return max(holding, key=lambda m: len(m.point)).fstype


def no_event_mount(root: Path, mounts: list[Mount]) -> str | None:
    """Return why events cannot cover `root` (its type, or a mount below it), or None."""
    fstype = fstype_of(root, mounts)
    if fstype is not None and no_events(fstype):
        return f"the library is on a {fstype} file system, which sends no change events"
    real = str(root.resolve())
    for mount in mounts:
        if mount.point != real and _within(mount.point, real) and no_events(mount.fstype):
            where = os.path.relpath(mount.point, real)
            return f"{where!r} inside the library is a {mount.fstype} mount, which sends no events"
    return None


def mounts_inside(root: Path, mounts: list[Mount]) -> dict[str, int]:
    """Return {relpath: mount id} of the file systems mounted on folders below `root`.

    A watch holds the folder it was added to: a disk mounted on a folder of the library
    hides that folder, and no event of the disk's files ever arrives (nor, after it is
    unmounted, of the folder beneath). Compared over time, this says when to watch anew.
    """
    real = str(root)
    return {
        os.path.relpath(mount.point, real): mount.mount_id
        for mount in mounts
        if mount.point != real and _within(mount.point, real)
    }


def inotify_watch_limit() -> int | None:
    """Return the per-user inotify watch limit, or None where there is no inotify."""
    try:
        return int(INOTIFY_WATCHES.read_text().strip())
    except (OSError, ValueError):
        return None


@dataclass(frozen=True)
class Survey:
    """Folders, media files and their bytes under a root, counted within a budget."""

    folders: int
    files: int
    size_bytes: int
    complete: bool  # False: the count stopped at the cap or the deadline ("at least")


def survey(
    root: Path,
    is_media: Callable[[str], bool],
    max_entries: int = 1_000_000,
    max_seconds: float = 10.0,
) -> Survey:
    """Count folders and media files under `root`, stopping after a cap or a deadline."""
    deadline = time.monotonic() + max_seconds
    folders, files, size, entries = 1, 0, 0, 0
    stack = [str(root)]
    while stack:
        if entries >= max_entries or time.monotonic() > deadline:
            return Survey(folders, files, size, complete=False)
        try:
            with os.scandir(stack.pop()) as it:
                listed = list(it)
        except OSError:
            continue
        for entry in listed:
            entries += 1
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    folders += 1
                    stack.append(entry.path)
                elif is_media(entry.name) and entry.is_file():
                    files += 1
                    size += entry.stat().st_size
            except OSError:
                continue
    return Survey(folders, files, size, complete=True)


def too_many_folders(root: Path, limit: int | None) -> str | None:
    """Return why inotify cannot watch every folder under `root`, or None when it can."""
    if limit is None:
        return "inotify is not available on this system"
    counted = survey(root, lambda _name: False, max_entries=max(limit * 4, 10_000))
    if counted.folders > limit:
        more = "" if counted.complete else "at least "
        return (
            f"the library has {more}{counted.folders} folders, more than the inotify watch limit "
            f"({limit}; raise fs.inotify.max_user_watches)"
        )
    return None


@dataclass(frozen=True)
class RootLook:
    """The library root as `watch_scopes` looks at it."""

    root: Path

    def seen(self, relpath: str) -> Seen:
        """Return (size, mtime_ns) of a file, DIR for a folder, None when nothing is there."""
        try:
            info = (self.root / relpath).stat()
        except OSError:
            return None
        if stat.S_ISDIR(info.st_mode):
            return DIR
        return (info.st_size, info.st_mtime_ns)

    def files_under(self, relpath: str, cap: int) -> list[str]:
        """Return up to `cap` visible files below the folder `relpath`."""
        found: list[str] = []
        for folder, dirs, names in os.walk(self.root / relpath):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            base = Path(folder).relative_to(self.root).as_posix()
            for name in names:
                if not name.startswith("."):
                    found.append(name if base == "." else f"{base}/{name}")
                    if len(found) >= cap:
                        return found
        return found
