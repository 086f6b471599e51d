"""Watch mode: a thread that follows file-system events under the root and asks for scans.

Events come from watchfiles (the Rust `notify` crate: inotify on Linux). Where events cannot
be trusted (a network or FUSE file system, more folders than the inotify watch limit, or
watches that cannot be added) the thread says why, in the log and in its state, and asks
for an incremental scan of the whole library every `poll_s` seconds instead.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import watchfiles

from mediashelf.clock import Clock
from mediashelf.db.session import Database
from mediashelf.file_identity import file_identity
from mediashelf.jobs.registry import Registry
from mediashelf.library.discovery import MEDIA_EXTENSIONS, media_extension
from mediashelf.library.store import TrackStore
from mediashelf.library.watch_queue import OUTAGE_RETRY_S, ScanQueue
from mediashelf.library.watch_scopes import Burst, Change, Kind
from mediashelf.library.watch_support import (
    MountTable,
    RootLook,
    WatchState,
    inotify_watch_limit,
    mounts_inside,
    no_event_mount,
    system_mounts,
    too_many_folders,
)

log = logging.getLogger(__name__)

# Deleted paths whose tracks are counted one query each; any more count one apiece.
MAX_COUNTED_DELETIONS = 1000
TICK_MS = 250  # how often the thread looks at the quiet period and the scan queue
UNDECODABLE = "Unable to decode path"  # watchfiles' error for a name that is not UTF-8
RESTARTS_MAX = 5
RESTARTS_WINDOW_S = 600.0
KINDS = {
    watchfiles.Change.added: Kind.ADDED,
    watchfiles.Change.modified: Kind.MODIFIED,
    watchfiles.Change.deleted: Kind.DELETED,
}


@dataclass(frozen=True)
class WatchConfig:
    """What the watcher needs besides the database and the job registry."""

    root: Path
    quiet_s: float = 5.0
    poll_s: float = 300.0
    extensions: frozenset[str] = MEDIA_EXTENSIONS
    mounts: MountTable = system_mounts  # injectable: tests pretend a root is a network share
    watch_limit: Callable[[], int | None] = inotify_watch_limit


class LibraryWatcher:
    """Follows the library (events, else periodic scans) from a thread of its own."""

    def __init__(
        self,
        db: Database,
        registry: Registry,
        clock: Clock,
        config: WatchConfig,
        on_enqueued: Callable[[], None] | None = None,
    ) -> None:
        self.db, self.registry, self.clock, self.config = db, registry, clock, config
        self.on_enqueued = on_enqueued
        self.state = WatchState("off", "starting")
        self.queue: ScanQueue | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False  # the last step failed (logged once per outage)
        self._whole_library = threading.Event()  # scan_whole_library() was asked for

    def start(self) -> None:
        """Start following the library."""
        self._thread = threading.Thread(target=self._run, name="library-watch", daemon=True)
        self._thread.start()

    def scan_whole_library(self) -> None:
        """Ask for an incremental scan of the whole library, after any scan in its way."""
        self._whole_library.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop following the library (pending changes are left for the next scan)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.state = WatchState("off", "stopped")

    # -- the thread -----------------------------------------------------------------------

    def _run(self) -> None:
        rescan: list[str] = []  # scopes to scan when events are followed again
        restarts: list[float] = []  # when events were followed again after an undecodable name
        while not self._stop.is_set():
            try:
                root = self.config.root.resolve(strict=True)
                reason = self._no_events_reason(root)
            except OSError as exc:
                root, reason = self.config.root, f"the library root cannot be read ({exc.strerror})"
            if reason is None:
                try:
                    rescan = self._follow_events(root, rescan)
                    if rescan:  # other folders are mounted there now: watch those
                        continue
                    return
                except Exception as exc:  # watches could not be added, or the watcher broke
                    shown = str(exc).replace(str(root), "<library>")  # /healthz shows no paths
                    if _undecodable(exc) and _may_restart(restarts, time.monotonic()):
                        log.warning("watch: %s; following events again and scanning the "
                                    "library for what was missed", shown)  # fmt: skip
                        rescan = [""]
                        continue
                    reason = f"file-system watches failed: {shown}"
            if not self._stop.is_set():
                self._poll(reason)
            return

    def _no_events_reason(self, root: Path) -> str | None:
        return no_event_mount(root, self.config.mounts()) or too_many_folders(
            root, self.config.watch_limit()
        )

    def _new_queue(self, events: bool) -> ScanQueue:
        self.queue = ScanQueue(
            self.db, self.registry, self.clock, events=events,
            retry_s=self.config.poll_s, on_enqueued=self.on_enqueued,
        )  # fmt: skip
        return self.queue

    def _follow_events(self, root: Path, rescan: list[str]) -> list[str]:
        """Follow events until stopped ([]) or until another folder is at `root`, or at a
        folder inside it (the scopes to scan once they are watched).

        Watches hold the folder they were added to: after an unmount and a mount, or a
        rename, no event of the folder now at the path would ever arrive. So with a disk
        mounted on (or unmounted from) a folder of the library, found in the mount table.
        """
        queue = self._new_queue(events=True)
        if rescan:  # what changed while no watch was on the folders now there
            queue.add(rescan)
        identity, check_at = file_identity(root), 0.0
        inside = mounts_inside(root, self.config.mounts())
        burst = Burst(self.config.quiet_s)
        look = RootLook(root)
        keep = event_filter(root, self.config.extensions)
        for raw in watchfiles.watch(
            root, watch_filter=keep, debounce=TICK_MS, step=50, stop_event=self._stop,
            rust_timeout=TICK_MS, yield_on_timeout=True, debug=False, raise_interrupt=False,
            force_polling=False, ignore_permission_denied=True,
        ):  # fmt: skip
            if self.state.mode != "events":
                self.state = WatchState("events")
                log.info("watch: following file-system events under the library")
            now = time.monotonic()
            if now >= check_at:
                moved = file_identity(root) not in (None, identity)
                if moved or _repointed(self.config.root, root):
                    log.warning("watch: the library root was unmounted, replaced or moved; "
                                "following the folder now at its path")  # fmt: skip
                    return [""]
                if remounted := _remounted(inside, mounts_inside(root, self.config.mounts())):
                    log.warning("watch: a file system was mounted or unmounted at %s inside "
                                "the library; following the folders now there",
                                ", ".join(remounted))  # fmt: skip
                    return remounted
                check_at = now + 1.0
            if raw:
                burst.add(_changes(root, raw), look, now)
            if burst.due(now) and (scopes := burst.settle(look, now)) is not None:
                log.info("watch: changes settled in %s", ", ".join(s or "/" for s in scopes))
                queue.add(scopes, self._tracks_gone(burst.handed_deleted))
            self._step(queue, now)
        return []

    def _tracks_gone(self, deleted: list[str]) -> int:
        """Return how many present tracks the deleted paths took: one a file, and every one
        below a folder. A folder moved out of the library (to the trash, another disk) is one
        event; counted as one, a top-level folder's tracks tripped the brake of the whole-
        library scan it asks for, again at every retry, with later changes waiting behind.
        """
        counted = deleted[:MAX_COUNTED_DELETIONS]
        gone = len(deleted) - len(counted)
        try:
            with self.db.unit_of_work() as session:
                store = TrackStore(session)
                for path in counted:
                    tracks, missing = store.scope_counts(path + "/")
                    gone += max(1, tracks - missing)
        except Exception as exc:  # the database is away: the scan's brake counts one each
            log.warning("watch: could not count the tracks deleted paths held (%s)",
                        type(exc).__name__)  # fmt: skip
            return len(deleted)
        return gone

    def _poll(self, reason: str) -> None:
        self.state = WatchState("polling", reason)
        log.warning("watch: %s; scanning the library every %gs instead", reason,
                    self.config.poll_s)  # fmt: skip
        queue = self._new_queue(events=False)
        next_at = time.monotonic() + self.config.poll_s
        while not self._stop.wait(TICK_MS / 1000):
            now = time.monotonic()
            if now >= next_at:
                if queue.idle:
                    queue.add([""])
                next_at = now + self.config.poll_s
            self._step(queue, now)

    def _step(self, queue: ScanQueue, now: float) -> None:
        if self._whole_library.is_set():
            self._whole_library.clear()
            queue.add([""])
        try:
            queue.step(now)
        except Exception as exc:  # the database is away, or a bug: keep the scopes, try later
            if not self._failing:
                log.warning("watch: could not ask for a scan (%s); trying again every %gs",
                            type(exc).__name__, OUTAGE_RETRY_S, exc_info=True)  # fmt: skip
            self._failing = True
            queue.retry_at = now + OUTAGE_RETRY_S
            return
        if self._failing:
            log.info("watch: asking for scans again")
            self._failing = False


def _undecodable(exc: Exception) -> bool:
    """Tell whether the watcher broke on a name that is not valid UTF-8.

    watchfiles cannot hand such a path to Python and raises on every later call (the event
    stays queued in its Rust watcher), so one file named in Latin-1 ended event watching for
    good. A new watcher has no such event queued; the scan it asks for skips and counts the
    name, as every scan does.
    """
    return isinstance(exc, RuntimeError) and str(exc).startswith(UNDECODABLE)


def _may_restart(restarts: list[float], now: float) -> bool:
    """Record a restart at `now`; False once RESTARTS_MAX happened within RESTARTS_WINDOW_S
    (a file under such a name written without pause would otherwise restart the watcher, and
    rescan the library, in a loop: polling is then the honest mode)."""
    restarts[:] = [t for t in restarts if now - t < RESTARTS_WINDOW_S] + [now]
    return len(restarts) <= RESTARTS_MAX


def _remounted(before: dict[str, int], now: dict[str, int]) -> list[str]:
    """Return the folders where a file system was mounted, unmounted or replaced, in order."""
    points = before.keys() | now.keys()
    return sorted(point for point in points if before.get(point) != now.get(point))


def _repointed(configured: Path, followed: Path) -> bool:
    """Tell whether the configured root (a symbolic link, say) now leads to another folder."""
    try:
        return configured.resolve(strict=True) != followed
    except OSError:  # nothing there right now: the identity check and the scans handle that
        return False


def event_filter(
    root: Path, extensions: frozenset[str]
) -> Callable[[watchfiles.Change, str], bool]:
    """Return the event filter: hidden names and existing non-media files are not changes."""

    def keep(change: watchfiles.Change, path: str) -> bool:
        if not Path(path).is_relative_to(root):
            return False
        if any(part.startswith(".") for part in Path(path).relative_to(root).parts):
            return False
        if change is watchfiles.Change.deleted or media_extension(Path(path).name, extensions):
            return True
        return Path(path).is_dir()

    return keep


def _changes(root: Path, raw: set[tuple[watchfiles.Change, str]]) -> list[Change]:
    changes = []
    for change, path in sorted(raw, key=lambda pair: pair[1]):
        if not Path(path).is_relative_to(root):
            continue
        relative = Path(path).relative_to(root).as_posix()
        changes.append(Change(KINDS[change], "" if relative == "." else relative))
    return changes
