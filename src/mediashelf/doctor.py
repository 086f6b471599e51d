"""`mediashelf doctor`: check an installation and say, for each problem, how to fix it.

Each check returns ok, warning (works, but look at it) or error (mediashelf will not work
as configured). Checks only read: they create no database, folder or file. The library is
counted within a budget (files and time), so a huge or slow library gives "at least".
"""

from __future__ import annotations

import ipaddress
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from sqlalchemy.engine import make_url

from mediashelf.config import MAKE_TOKEN, Settings, token_problem
from mediashelf.db import migrate
from mediashelf.db.engine import sqlite_path
from mediashelf.db.outage import file_problem
from mediashelf.db.session import Database
from mediashelf.errors import DatabaseError, LibraryUnavailable
from mediashelf.library.discovery import check_root, media_extension
from mediashelf.library.watch_support import (
    Mount,
    Survey,
    inotify_watch_limit,
    no_event_mount,
    survey,
    system_mounts,
)
from mediashelf.probe.base import ffprobe_available
from mediashelf.probe.ffprobe_backend import ffprobe_version
from mediashelf.probe.formats import media_extensions

Status = Literal["ok", "warning", "error"]
DISK_ERROR_BYTES = 256 * 1024**2
DISK_WARNING_BYTES = 2 * 1024**3
WATCH_HEADROOM = 0.8  # warn when the folders use more than this share of the watch limit
# The web layer's settings, read with getattr: not every version's Settings has them.
WEB_SETTINGS = ("allowed_hosts", "public_read")


@dataclass(frozen=True)
class Check:
    """One line of the doctor's report."""

    name: str
    status: Status
    message: str
    fix: str | None = None


@dataclass(frozen=True)
class Probes:
    """How the doctor looks at the machine (tests replace single probes)."""

    disk_usage: Callable[[Path], Any] = shutil.disk_usage
    mounts: Callable[[], list[Mount]] = system_mounts
    watch_limit: Callable[[], int | None] = inotify_watch_limit
    max_entries: int = 500_000
    max_seconds: float = 5.0


@dataclass
class Report:
    """Every check, in order; ok unless one is an error."""

    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Tell whether no check is an error."""
        return all(c.status != "error" for c in self.checks)

    def as_json(self) -> dict[str, Any]:
        """Return the report as `doctor --json` prints it."""
        return {"checks": [asdict(c) for c in self.checks], "ok": self.ok}


def diagnose(settings: Settings, probes: Probes | None = None) -> Report:
    """Run every check against `settings`."""
    probes = probes or Probes()
    report = Report()
    library, counted = check_library(settings, probes)
    report.checks += [
        library,
        check_database(settings),
        check_disk(settings, probes),
        check_ffprobe(settings),
        check_pyav(),
        check_watch(settings, counted, probes),
        check_exposure(settings),
    ]
    return report


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.1f} {unit}" if unit != "B" else f"{n} B"
        size /= 1024
    return f"{n} B"


def check_library(settings: Settings, probes: Probes) -> tuple[Check, Survey | None]:
    """Check the library root is a readable folder, and count its media files."""
    if settings.library is None:
        return Check(
            "library",
            "error",
            "No library is configured.",
            "Set MEDIASHELF_LIBRARY to the library folder.",
        ), None
    try:
        root = check_root(settings.library)
    except LibraryUnavailable as exc:
        fix = (
            f"Mount or create {settings.library} and let the service user read it "
            "(r-x on folders, r on files)."
        )
        return Check("library", "error", exc.message, fix), None
    extensions = media_extensions(settings.extensions_extra, settings.extensions_exclude)
    counted = survey(
        root,
        lambda name: media_extension(name, extensions) is not None,
        probes.max_entries,
        probes.max_seconds,
    )
    more = "" if counted.complete else "at least "
    message = (
        f"{root}: {more}{counted.files} media files ({more}{_size(counted.size_bytes)}) "
        f"in {more}{counted.folders} folders"
    )
    if not counted.complete:
        message += " (stopped counting early)"
    if counted.files == 0 and counted.complete:
        return Check(
            "library",
            "warning",
            message,
            "Check MEDIASHELF_LIBRARY points at the media, not at an empty mount point.",
        ), counted
    return Check("library", "ok", message), counted


def check_database(settings: Settings) -> Check:
    """Check the database answers and its schema is the one this version expects."""
    url = settings.effective_database_url
    shown = make_url(url).render_as_string(hide_password=True)
    file = sqlite_path(url)
    if file is not None and not file.exists():
        return Check(
            "database",
            "warning",
            f"{shown}: no database yet",
            "It is created at the first start; or run `mediashelf db upgrade`.",
        )
    db: Database | None = None
    try:
        db = Database(url, settings.sqlite_busy_timeout_ms)  # an unknown dialect raises here
        db.ping()
        current, head = migrate.current_revision(db), migrate.head_revision()
    except Exception as exc:  # any failure to connect or read is the finding
        reason = exc.message if isinstance(exc, DatabaseError) else type(exc).__name__
        damaged = file_problem(exc.__cause__ or exc)  # a SQLite file no server start mends
        if damaged is not None:
            return Check("database", "error", f"{shown}: {damaged}",
                         "Restore a backup (`mediashelf db restore PATH`), or fix "
                         "MEDIASHELF_DATABASE_URL if it names the wrong file.")  # fmt: skip
        return Check(
            "database",
            "error",
            f"{shown}: {reason}",
            "Start the database server, or fix MEDIASHELF_DATABASE_URL.",
        )
    finally:
        if db is not None:
            db.dispose()
    if current == head:
        return Check("database", "ok", f"{shown}: reachable, schema at {head} (newest)")
    if current is None:
        return Check(
            "database",
            "warning",
            f"{shown}: reachable, empty (no schema yet)",
            "Run `mediashelf db upgrade` (services also migrate at start-up).",
        )
    if not migrate.known_revision(current):
        return Check(
            "database",
            "error",
            f"{shown}: schema {current} is newer than this version knows ({head})",
            "Upgrade mediashelf on this host to the version that wrote the schema.",
        )
    return Check(
        "database",
        "warning",
        f"{shown}: schema at {current}, newest is {head}",
        "Run `mediashelf db upgrade` (services also migrate at start-up).",
    )


def _existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_disk(settings: Settings, probes: Probes) -> Check:
    """Check free space and write access where the SQLite database lives.

    That is the folder of the configured file (MEDIASHELF_DATABASE_URL may put it outside
    the data directory); a PostgreSQL database's space is its server's, not this host's.
    """
    file = sqlite_path(settings.effective_database_url)
    if file is None:
        return Check("disk", "ok", "the database's space is the PostgreSQL server's")
    folder = file.absolute().parent
    where = _existing(folder)
    usage = probes.disk_usage(where)
    free = f"{_size(usage.free)} free under {folder}"
    if not where.is_dir():  # a file where the folder (or one above it) should be
        return Check(
            "disk",
            "error",
            f"{where} is a file, so the database's folder {folder} cannot be made there",
            "Point MEDIASHELF_DATA_DIR (or MEDIASHELF_DATABASE_URL) at a folder.",
        )
    if not os.access(where, os.W_OK):
        return Check(
            "disk",
            "error",
            f"{free}, but {where} is not writable by this user",
            f"Give the service user write access to {folder} "
            "(ReadWritePaths= in the systemd unit).",
        )
    if usage.free < DISK_ERROR_BYTES:
        return Check("disk", "error", free, "Free disk space: the database cannot grow.")
    if usage.free < DISK_WARNING_BYTES:
        return Check("disk", "warning", free, "Free some disk space before the database grows.")
    return Check("disk", "ok", free)


def check_ffprobe(settings: Settings) -> Check:
    """Check ffprobe: PyAV's fallback, or the only prober when MEDIASHELF_PROBERS says so.

    Alone, a missing ffprobe is an error (a scan refuses to start), and a binary that does
    not answer `-version` as ffprobe does is one too (it failed every file as corrupt).
    """
    if "ffprobe" not in settings.probers:
        return Check("ffprobe", "ok", "not used (MEDIASHELF_PROBERS)")
    alone = "pyav" not in settings.probers
    install = "Install it (Debian: apt install ffmpeg) or set MEDIASHELF_FFPROBE_PATH."
    if not ffprobe_available(settings.ffprobe_path):
        if alone:
            said = "not found, and it is the only prober (MEDIASHELF_PROBERS): scans cannot start"
            return Check("ffprobe", "error", f"{settings.ffprobe_path} {said}", install)
        said = "not found: files PyAV cannot read get no fallback"
        return Check("ffprobe", "warning", f"{settings.ffprobe_path} {said}", install)
    version = ffprobe_version(settings.ffprobe_path)
    if version == "unknown":
        return Check("ffprobe", "error" if alone else "warning",
                     f"{settings.ffprobe_path} does not answer -version as ffprobe does",
                     "Point MEDIASHELF_FFPROBE_PATH at ffprobe.")  # fmt: skip
    return Check("ffprobe", "ok", f"{settings.ffprobe_path} {version}")


def check_pyav() -> Check:
    """Report the PyAV and libav versions that probe files in-process."""
    try:
        import av
    except ImportError as exc:
        return Check(
            "pyav",
            "error",
            f"PyAV cannot be imported: {exc}",
            "Reinstall mediashelf in its virtual environment (pip install -e .).",
        )
    libs = ", ".join(
        f"{name} {'.'.join(map(str, version))}"
        for name, version in sorted(av.library_versions.items())
    )
    return Check("pyav", "ok", f"PyAV {av.__version__}, FFmpeg {av.ffmpeg_version_info} ({libs})")


def check_watch(settings: Settings, counted: Survey | None, probes: Probes) -> Check:
    """Check watch mode can follow events (file-system type, inotify watches vs folders)."""
    if not settings.watch:
        return Check("watch", "ok", "watch mode is off (MEDIASHELF_WATCH)")
    if settings.library is None or counted is None:
        return Check(
            "watch",
            "error",
            "watch mode is on but the library is unavailable",
            "Fix the library first (see above).",
        )
    polling = f"scans every {settings.watch_poll_s:g}s instead (MEDIASHELF_WATCH_POLL_S)"
    reason = no_event_mount(settings.library, probes.mounts())
    if reason is not None:
        return Check(
            "watch",
            "warning",
            f"{reason}: {polling}",
            "Nothing to fix; lower MEDIASHELF_WATCH_POLL_S to notice changes sooner.",
        )
    limit = probes.watch_limit()
    if limit is None:
        return Check("watch", "warning", f"inotify is not available: {polling}", None)
    more = "" if counted.complete else "at least "
    folders = f"{more}{counted.folders} folders, inotify watch limit {limit}"
    fix = (
        f"sysctl fs.inotify.max_user_watches={max(counted.folders * 2, 524288)} "
        "(persist it in /etc/sysctl.d/90-mediashelf.conf)"
    )
    if counted.folders > limit:
        return Check("watch", "error", f"{folders}: too few watches, {polling}", fix)
    if counted.folders > WATCH_HEADROOM * limit:
        return Check("watch", "warning", f"{folders}: little headroom left", fix)
    return Check("watch", "ok", f"events: {folders}")


def is_loopback(host: str) -> bool:
    """Tell whether `host` only listens on this machine (the same rule `serve` applies)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(settings: Settings) -> Check:
    """Check bind address, token, allowed hosts and public reads agree with each other.

    `allowed_hosts` and `public_read` are read with getattr: they belong to the web layer's
    settings and may not exist in every version (then: no allow-list, no public reads).
    """
    host, token = settings.host, settings.api_token
    allowed_hosts, public_read_name = WEB_SETTINGS
    allowed = tuple(getattr(settings, allowed_hosts, None) or ())
    public_read = bool(getattr(settings, public_read_name, False))
    where = f"{host}:{settings.port}"
    if token is not None and (problem := token_problem(token)) is not None:
        return Check("exposure", "error", f"MEDIASHELF_API_TOKEN {problem}",
                     f"Make one with: {MAKE_TOKEN}")  # fmt: skip
    if is_loopback(host):
        return Check("exposure", "ok", f"binds {where} (this machine only)")
    if not token:
        return Check(
            "exposure",
            "error",
            f"binds {where} (reachable from the network) without a token",
            "Set MEDIASHELF_API_TOKEN, or MEDIASHELF_HOST=127.0.0.1 behind a reverse proxy.",
        )
    if "*" in allowed:
        return Check(
            "exposure",
            "warning",
            f"binds {where} and accepts any Host header",
            "List the names clients use in MEDIASHELF_ALLOWED_HOSTS (DNS rebinding).",
        )
    if public_read:
        return Check(
            "exposure",
            "warning",
            f"binds {where} and lets anyone read the library",
            "Unset MEDIASHELF_PUBLIC_READ unless the library is meant to be public.",
        )
    return Check("exposure", "ok", f"binds {where} with a token")
