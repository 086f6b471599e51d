"""Watch mode with real file-system events (inotify through watchfiles) and a real worker."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, update

from mediashelf.db.migrate import upgrade
from mediashelf.db.schema import Job, Track
from mediashelf.db.session import Database
from mediashelf.jobs.service import create_job
from mediashelf.library.watch import LibraryWatcher, WatchConfig
from mediashelf.library.watch_queue import ScanQueue
from mediashelf.library.watch_support import Mount
from mediashelf.probe.pool import ProbePool
from mediashelf.runtime import Runtime
from tests.conftest import Corpus, make_runtime, missing_environment, scan
from tests.polling import wait_until

QUIET_S = 0.6
SONG = "audio/plain.mp3"
OTHER = "audio/flac16_stereo.flac"


def tracks(db: Database) -> dict[str, Track]:
    """Return every track by relpath."""
    with db.unit_of_work() as session:
        return {t.relpath: t for t in session.scalars(select(Track))}


def watch_jobs(db: Database) -> list[Job]:
    """Return the jobs watch mode asked for, oldest first."""
    with db.unit_of_work() as session:
        query = select(Job).where(Job.trigger == "watch").order_by(Job.id)
        return list(session.scalars(query))


def settled(runtime: Runtime) -> bool:
    """Tell whether the watcher has nothing pending and every watch job has ended."""
    watcher = runtime.watcher
    assert watcher is not None
    queue = watcher.queue
    ended = all(j.status in ("completed", "failed", "cancelled") for j in watch_jobs(runtime.db))
    return queue is not None and queue.idle and ended


@pytest.fixture
def library(corpus: Corpus, tmp_path: Path) -> Path:
    """A small library: two albums."""
    root = tmp_path / "library"
    for album in ("Artist/Album", "Artist/Second"):
        (root / album).mkdir(parents=True)
        shutil.copy(corpus.root / SONG, root / album / "01 Song.mp3")
        shutil.copy(corpus.root / OTHER, root / album / "02 Other.flac")
    return root


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    """A migrated SQLite database (the watcher's SQL is the engine's; one test runs on both)."""
    db = Database(f"sqlite:///{tmp_path / 'watch.db'}")
    upgrade(db)
    yield db
    db.dispose()


def start(runtime: Runtime) -> Runtime:
    """Index the library, start the worker and the watcher, wait until events are followed."""
    assert scan(runtime).status == "completed"
    watcher = runtime.start_watch()
    wait_until(lambda: watcher.state.mode != "off", "the watcher to follow events")
    return runtime


@pytest.fixture
def watched(database: Database, library: Path, probe_pool: ProbePool) -> Iterator[Runtime]:
    """A runtime watching the library by events, with a short quiet period."""
    runtime = make_runtime(database, library, probe_pool, watch_quiet_s=QUIET_S, watch_poll_s=1)
    yield start(runtime)
    runtime.close()


def test_events_are_followed(watched: Runtime) -> None:
    assert watched.watch_state().mode == "events"
    assert watched.watch_state().reason is None


def test_add_modify_delete(watched: Runtime, corpus: Corpus, library: Path) -> None:
    db = watched.db
    (library / "New Artist/Album").mkdir(parents=True)
    shutil.copy(corpus.root / SONG, library / "New Artist/Album/01 New.mp3")
    wait_until(lambda: "New Artist/Album/01 New.mp3" in tracks(db), "the new file's track")
    wait_until(lambda: settled(watched), "the watch scan to end")
    assert [j.params.get("path") for j in watch_jobs(db)] == ["New Artist"]
    new = tracks(db)["New Artist/Album/01 New.mp3"]
    assert new.probe_status == "ok"
    assert new.audio_codec == "mp3"

    shutil.copy(corpus.root / OTHER, library / "Artist/Album/01 Song.mp3")  # new content
    size = (library / "Artist/Album/01 Song.mp3").stat().st_size
    wait_until(lambda: tracks(db)["Artist/Album/01 Song.mp3"].size_bytes == size,
               "the changed file's facts")  # fmt: skip
    assert tracks(db)["Artist/Album/01 Song.mp3"].audio_codec == "flac"

    (library / "Artist/Second/02 Other.flac").unlink()
    gone = "Artist/Second/02 Other.flac"
    wait_until(lambda: tracks(db)[gone].probe_status == "missing",
               "the deleted file's track to go missing")  # fmt: skip
    wait_until(lambda: settled(watched), "the watch scans to end")
    assert [j.params.get("path") for j in watch_jobs(db)] == [
        "New Artist", "Artist/Album", "Artist/Second"]  # fmt: skip
    assert all(j.status == "completed" for j in watch_jobs(db))


def test_renames_keep_ids(watched: Runtime, library: Path) -> None:
    db = watched.db
    before = tracks(db)
    (library / "Artist/Album").rename(library / "Artist/Renamed Album")
    (library / "Artist/Second/01 Song.mp3").rename(library / "Artist/Second/01 Better Name.mp3")
    wait_until(lambda: "Artist/Renamed Album/01 Song.mp3" in tracks(db)
               and "Artist/Second/01 Better Name.mp3" in tracks(db),
               "the renamed tracks")  # fmt: skip
    wait_until(lambda: settled(watched), "the watch scans to end")
    after = tracks(db)
    assert after["Artist/Renamed Album/01 Song.mp3"].video_id == (
        before["Artist/Album/01 Song.mp3"].video_id)  # fmt: skip
    assert after["Artist/Renamed Album/02 Other.flac"].id == before["Artist/Album/02 Other.flac"].id
    assert after["Artist/Second/01 Better Name.mp3"].id == before["Artist/Second/01 Song.mp3"].id
    assert set(after) == {t.relpath for t in after.values()}
    assert len(after) == len(before)  # moved, not added
    assert all(t.probe_status == "ok" for t in after.values())


def test_a_burst_of_a_thousand_files_is_a_handful_of_jobs(
    watched: Runtime, corpus: Corpus, library: Path, tmp_path: Path
) -> None:
    staging = tmp_path / "staging" / "Collection"
    for i in range(1000):
        album = staging / f"Artist {i // 100:02d}" / f"Album {i // 10 % 10}"
        album.mkdir(parents=True, exist_ok=True)
        shutil.copy(corpus.root / SONG, album / f"{i:04d}.mp3")
    shutil.copytree(staging, library / "Incoming/Collection")  # the collection copied in
    wait_until(lambda: sum(
        r.startswith("Incoming/") for r in tracks(watched.db)) == 1000,
        "a track for every copied file", timeout_s=90)  # fmt: skip
    wait_until(lambda: settled(watched), "the watch scans to end")
    jobs = watch_jobs(watched.db)
    assert 1 <= len(jobs) <= 5, [j.params for j in jobs]
    assert all(j.status == "completed" for j in jobs)
    assert all(j.params.get("path") not in (None, "") for j in jobs)  # scoped, not the library


def test_a_growing_file_is_scanned_once_it_holds_still(
    watched: Runtime, corpus: Corpus, library: Path
) -> None:
    data = (corpus.root / OTHER).read_bytes()
    target = library / "Artist/Album/03 Download.flac"
    chunks = 40
    step = len(data) // chunks + 1
    with target.open("wb") as handle:  # written over 10 s, a chunk every 0.25 s
        for i in range(chunks):
            handle.write(data[i * step : (i + 1) * step])
            handle.flush()
            time.sleep(0.25)
    finished = datetime.now(UTC)
    wait_until(lambda: "Artist/Album/03 Download.flac" in tracks(watched.db),
               "the downloaded file's track")  # fmt: skip
    wait_until(lambda: settled(watched), "the watch scans to end")
    jobs = watch_jobs(watched.db)
    assert jobs
    assert all(j.created_at.replace(tzinfo=UTC) > finished for j in jobs)  # none while growing
    track = tracks(watched.db)["Artist/Album/03 Download.flac"]
    assert track.probe_status == "ok"
    assert track.size_bytes == len(data)


@pytest.fixture
def both_dialects(db_url: str) -> Iterator[Database]:
    """A migrated database on SQLite and on PostgreSQL (conftest's `db_url`)."""
    db = Database(db_url)
    upgrade(db)
    yield db
    db.dispose()


def test_changes_wait_for_another_scan_to_end(
    both_dialects: Database, library: Path, probe_pool: ProbePool, corpus: Corpus
) -> None:
    database = both_dialects
    runtime = make_runtime(database, library, probe_pool, watch_quiet_s=QUIET_S, watch_poll_s=1)
    try:
        start(runtime)
        assert runtime.worker is not None
        runtime.worker.stop()  # nothing runs the other scan until we say so
        runtime.worker = None
        with database.unit_of_work() as session:
            other = create_job(session, runtime.registry, runtime.clock, kind="library_scan",
                               params={"force": True}, trigger="cli", actor="test").id  # fmt: skip
        shutil.copy(corpus.root / SONG, library / "Artist/Second/03 Late.mp3")
        watcher = runtime.watcher
        assert watcher is not None
        wait_until(lambda: watcher.queue is not None
                   and watcher.queue.waiting is not None
                   and watcher.queue.waiting.job_id == other,
                   "the watcher to wait for the other scan")  # fmt: skip
        assert watch_jobs(database) == []
        runtime.start_worker()
        wait_until(lambda: "Artist/Second/03 Late.mp3" in tracks(database), "the late file's track")
        wait_until(lambda: settled(runtime), "the watch scan to end")
        with database.unit_of_work() as session:
            ended = session.get(Job, other)
            assert ended is not None
            assert ended.status == "completed"
            assert ended.finished_at is not None
            finished = ended.finished_at
        jobs = watch_jobs(database)
        assert [j.params.get("path") for j in jobs] == ["Artist/Second"]
        assert jobs[0].created_at >= finished
    finally:
        runtime.close()


def test_a_network_share_is_scanned_periodically(
    database: Database, library: Path, probe_pool: ProbePool, corpus: Corpus
) -> None:
    runtime = make_runtime(database, library, probe_pool, watch_quiet_s=QUIET_S, watch_poll_s=1)
    runtime.mounts = lambda: [Mount("/", "ext4"), Mount(str(library.resolve()), "nfs4")]
    try:
        start(runtime)
        state = runtime.watch_state()
        assert state.mode == "polling"
        assert state.reason is not None
        assert "nfs4" in state.reason
        shutil.copy(corpus.root / SONG, library / "Artist/Album/04 From Another Host.mp3")
        wait_until(lambda: "Artist/Album/04 From Another Host.mp3" in tracks(database),
                   "the periodic scan to find the file")  # fmt: skip
        jobs = watch_jobs(database)
        assert jobs
        assert all(j.params.get("path") is None for j in jobs)  # whole-library scans
        assert all(j.params.get("allow_mass_missing") is False for j in jobs)  # brake kept
    finally:
        runtime.close()


def test_too_few_inotify_watches_fall_back_to_polling(database: Database, library: Path) -> None:
    runtime = make_runtime(database, library)
    config = WatchConfig(root=library, poll_s=3600, watch_limit=lambda: 2)
    watcher = LibraryWatcher(database, runtime.registry, runtime.clock, config)
    watcher.start()
    try:
        wait_until(lambda: watcher.state.mode != "off", "the watcher to decide")
        assert watcher.state.mode == "polling"
        assert watcher.state.reason is not None
        assert "inotify watch limit (2" in watcher.state.reason
    finally:
        watcher.stop()
    assert watcher.state.as_json() == {"mode": "off", "reason": "stopped"}


def test_a_remounted_root_is_followed_again(
    watched: Runtime, corpus: Corpus, library: Path
) -> None:
    """After an unmount and a mount (another folder at the root's path), events still count."""
    db = watched.db
    away = library.with_name("library-before")
    library.rename(away)  # the old watches now follow the folder that went away
    shutil.copytree(away, library)  # what the next mount shows at the same path
    shutil.copy(corpus.root / SONG, library / "Artist/Album/03 After.mp3")
    wait_until(lambda: "Artist/Album/03 After.mp3" in tracks(db),
               "the file added after the remount")  # fmt: skip
    assert watched.watch_state().mode == "events"
    gone = "Artist/Second/02 Other.flac"
    (library / gone).unlink()
    wait_until(lambda: tracks(db)[gone].probe_status == "missing",
               "a deletion in the new folder to be seen")  # fmt: skip
    assert tracks(db)["Artist/Album/01 Song.mp3"].probe_status == "ok"


@contextmanager
def tmpfs_on(point: Path) -> Iterator[None]:
    """Mount a new, empty tmpfs on `point` (a real mount: as root, or through `sudo -n` as
    .ci/run installs packages), unmount it after."""
    as_root = [] if os.geteuid() == 0 else ["sudo", "-n"]
    try:
        subprocess.run([*as_root, "mount", "-t", "tmpfs", "-o", "size=16m", "mediashelf-test",
                        str(point)], check=True, capture_output=True, timeout=30)  # fmt: skip
    except (OSError, subprocess.CalledProcessError) as exc:
        missing_environment(f"cannot mount a tmpfs (root and mount(8) needed): {exc}")
    try:
        yield
    finally:
        subprocess.run([*as_root, "umount", "--lazy", str(point)], check=False, timeout=30)


def test_a_disk_mounted_inside_the_library_is_followed(
    watched: Runtime, corpus: Corpus, library: Path
) -> None:
    """A disk mounted on a folder of the library: the watches stayed on the folder beneath
    it, so no file written to the disk was ever seen (until some later full scan), while
    /healthz said "events"."""
    db = watched.db
    point = library / "Disk"
    point.mkdir()
    wait_until(lambda: settled(watched), "the watcher to settle after the new folder")
    with tmpfs_on(point):
        (point / "Album").mkdir()
        shutil.copy(corpus.root / SONG, point / "Album/01 On The Disk.mp3")
        wait_until(lambda: "Disk/Album/01 On The Disk.mp3" in tracks(db),
                   "the file written to the mounted disk")  # fmt: skip
        wait_until(lambda: settled(watched), "the watch scans to end")
        assert watched.watch_state().mode == "events"
        shutil.copy(corpus.root / OTHER, point / "Album/02 Later.flac")
        wait_until(lambda: "Disk/Album/02 Later.flac" in tracks(db),
                   "a later file on the disk, seen by its own event")  # fmt: skip
        assert tracks(db)["Disk/Album/02 Later.flac"].probe_status == "ok"


def test_a_name_that_is_not_utf8_does_not_end_event_watching(
    watched: Runtime, corpus: Corpus, library: Path
) -> None:
    """watchfiles raises on such a name, and kept raising: the watcher fell back to polling
    for good. Now a new watcher follows events again and a scan looks for what was missed."""
    db = watched.db
    latin1 = os.fsencode(library / "Artist/Album") + b"/03 Caf\xe9.mp3"
    shutil.copy(os.fsencode(corpus.root / SONG), latin1)
    wait_until(lambda: any(not j.params.get("path") for j in watch_jobs(db)),
               "the scan of the whole library after the watcher restarted")  # fmt: skip
    wait_until(lambda: settled(watched), "that scan to end")
    assert watched.watch_state().mode == "events"
    rescan = [j for j in watch_jobs(db) if not j.params.get("path")][-1]
    assert rescan.status == "completed"
    assert rescan.progress["skipped"] == 1  # the name itself is skipped and counted
    shutil.copy(corpus.root / SONG, library / "Artist/Second/04 Later.mp3")
    wait_until(lambda: "Artist/Second/04 Later.mp3" in tracks(db), "a file added afterwards")
    assert watched.watch_state().mode == "events"


def test_the_start_up_scan_is_owed_not_dropped_when_a_scan_is_in_its_way(
    database: Database, library: Path, probe_pool: ProbePool, corpus: Corpus
) -> None:
    """A watch scan of one folder handed back at the last stop was in the start-up scan's way,
    and the start-up scan was dropped: what changed while nothing watched stayed unseen."""
    runtime = make_runtime(database, library, probe_pool, watch_quiet_s=QUIET_S,
                           watch_poll_s=3600)  # fmt: skip
    try:
        assert scan(runtime).status == "completed"
        assert runtime.worker is not None
        runtime.worker.stop()  # the service is down
        runtime.worker = None
        with database.unit_of_work() as session:
            other = create_job(session, runtime.registry, runtime.clock, kind="library_scan",
                               params={"path": "Artist/Album", "allow_mass_missing": True},
                               trigger="watch", actor="watch").id  # fmt: skip
        shutil.copy(corpus.root / SONG, library / "Artist/Second/03 While Down.mp3")
        assert runtime.enqueue_startup_scan() == other  # the service starts again
        runtime.start_watch()
        runtime.start_worker()
        wait_until(lambda: "Artist/Second/03 While Down.mp3" in tracks(database),
                   "the file added while nothing watched")  # fmt: skip
        wait_until(lambda: settled(runtime), "the whole-library scan to end")
        assert [j.params.get("path") for j in watch_jobs(database)] == ["Artist/Album", None]
    finally:
        runtime.close()


@pytest.mark.parametrize("how", ["deleted", "moved out"])
def test_a_deleted_top_level_folder_is_recorded_not_braked(
    database: Database, library: Path, probe_pool: ProbePool, corpus: Corpus, how: str
) -> None:
    """Deleting a top-level folder is a whole-library watch scan, and the mass-missing brake
    failed it again and again, with every later change merged behind it. The deletions the
    events saw now loosen the brake by as many tracks. A folder moved out of the library (to
    the trash) is one event, which loosened it by one track: it still stalled."""
    for i in range(3):  # 3 of 7 tracks: past the 20 % brake
        (library / "Big").mkdir(exist_ok=True)
        shutil.copy(corpus.root / SONG, library / f"Big/{i:02d}.mp3")
    runtime = start(make_runtime(database, library, probe_pool, watch_quiet_s=QUIET_S,
                                 watch_poll_s=3600))  # fmt: skip
    try:
        if how == "deleted":
            shutil.rmtree(library / "Big")
        else:
            (library / "Big").rename(library.with_name("Trash"))
        wait_until(lambda: all(t.probe_status == "missing" for p, t in tracks(database).items()
                               if p.startswith("Big/")), "the deleted folder's tracks")  # fmt: skip
        wait_until(lambda: settled(runtime), "the watch scan to end")
        jobs = watch_jobs(database)
        assert [(j.params.get("path"), j.params.get("missing_seen", 0) >= 3) for j in jobs] == [
            (None, True)]  # fmt: skip
        assert jobs[0].status == "completed"
        shutil.copy(corpus.root / SONG, library / "Artist/Second/05 Next.mp3")  # nothing stalls
        wait_until(lambda: "Artist/Second/05 Next.mp3" in tracks(database), "a later file")
        assert tracks(database)["Artist/Album/01 Song.mp3"].probe_status == "ok"
    finally:
        runtime.close()


def test_a_failed_watch_scan_is_asked_again_after_the_retry_wait_not_at_once(
    database: Database, library: Path
) -> None:
    """The log said "asking again in 300s" and the next job came 0.25 s later: the step that
    saw the failure asked again at once."""
    runtime = make_runtime(database, library)
    queue = ScanQueue(database, runtime.registry, runtime.clock, events=True, retry_s=60)
    queue.add([""], missing_seen=2)
    queue.step(0.0)
    assert queue.waiting is not None
    first = queue.waiting.job_id
    with database.unit_of_work() as session:
        session.execute(update(Job).where(Job.id == first).values(
            status="failed", finished_at=datetime.now(UTC)))  # fmt: skip
    queue.step(1.0)
    assert [j.id for j in watch_jobs(database)] == [first]
    assert queue.pending == [""]
    queue.step(30.0)
    assert [j.id for j in watch_jobs(database)] == [first]
    queue.step(61.0)
    jobs = watch_jobs(database)
    assert len(jobs) == 2
    assert jobs[1].params.get("missing_seen") == 2  # the retry allows for the same deletions


def test_a_root_that_is_a_link_is_followed_to_where_it_now_points(
    database: Database, library: Path, probe_pool: ProbePool, corpus: Corpus
) -> None:
    """The watcher kept the folder the link led to at start: after `ln -sfn` to a copy, no
    change in the folder the library now is was ever seen."""
    link = library.with_name("library-link")
    link.symlink_to(library)
    runtime = start(make_runtime(database, link, probe_pool, watch_quiet_s=QUIET_S,
                                 watch_poll_s=3600))  # fmt: skip
    try:
        copy = library.with_name("library-copy")
        shutil.copytree(library, copy)
        staged = link.with_name("library-link.new")
        staged.symlink_to(copy)
        staged.replace(link)  # what `ln -sfn` does
        shutil.copy(corpus.root / SONG, copy / "Artist/Album/03 In The Copy.mp3")
        wait_until(lambda: "Artist/Album/03 In The Copy.mp3" in tracks(database),
                   "the file added where the link now points")  # fmt: skip
        assert runtime.watch_state().mode == "events"
    finally:
        runtime.close()
