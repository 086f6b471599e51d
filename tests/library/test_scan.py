"""The library_scan job against the generated corpus, on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from mediashelf.db.schema import Job, JobLog, Track
from mediashelf.db.session import Database
from mediashelf.errors import InvalidJobRequest
from mediashelf.jobs.context import JobContext
from mediashelf.jobs.pacing import Pacer
from mediashelf.jobs.service import create_job
from mediashelf.library.scan import LINES_OF_A_KIND
from mediashelf.library.scan_request import ScanParams
from mediashelf.probe.normalize import NORMALIZER_VERSION
from mediashelf.probe.pool import ProbePool
from mediashelf.runtime import Runtime
from tests.conftest import make_runtime, scan, wait_for_job
from tests.polling import wait_until
from tests.probe.fake_probers import HangingProber, LockedProber

FILES = 22  # media files in the per-test library (the corpus without big/)
BROKEN = 4
PROGRESS = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ job=\d+ phase=(discover|diff|probe|apply|waiting|done) "
    r"processed=\d+ total=\d+ added=\d+ updated=\d+ unchanged=\d+ moved=\d+ missing=\d+ "
    r"failed=\d+ skipped=\d+ rate=\d+\.\d eta_s=\d+$"
)


def counts(job: Job) -> dict[str, int]:
    """Return the outcome counters of a finished scan."""
    keys = ("processed", "total", "added", "updated", "unchanged", "moved", "missing", "failed",
            "skipped")  # fmt: skip
    return {k: job.progress[k] for k in keys}


def tracks(db: Database) -> dict[str, Track]:
    """Return every track by relpath."""
    with db.unit_of_work() as session:
        return {t.relpath: t for t in session.scalars(select(Track))}


def snapshot(db: Database) -> list[dict[str, Any]]:
    """Return every column of every track, to prove nothing changed."""
    with db.unit_of_work() as session:
        rows = session.scalars(select(Track).order_by(Track.id))
        return [{c.key: getattr(t, c.key) for c in Track.__table__.columns} for t in rows]


def job_lines(db: Database, job_id: int) -> list[JobLog]:
    """Return the job's `job` stream."""
    with db.unit_of_work() as session:
        query = select(JobLog).where(JobLog.job_id == job_id, JobLog.stream == "job")
        return list(session.scalars(query.order_by(JobLog.id)))


def progress_lines(db: Database, job_id: int) -> list[str]:
    """Return the job's progress stream."""
    with db.unit_of_work() as session:
        query = select(JobLog.message).where(JobLog.job_id == job_id, JobLog.stream == "progress")
        return list(session.scalars(query.order_by(JobLog.id)))


def test_first_scan_adds_every_file_and_summarises_failures(runtime: Runtime) -> None:
    job = scan(runtime)
    assert job.status == "completed", job.error
    assert counts(job) == {
        "processed": FILES, "total": FILES, "added": FILES - BROKEN, "updated": 0,
        "unchanged": 0, "moved": 0, "missing": 0, "failed": BROKEN, "skipped": 0,
    }  # fmt: skip
    assert job.summary is not None
    assert re.fullmatch(
        rf"Library scan completed in \d+\.\ds: {FILES} processed, {FILES - BROKEN} added, "
        rf"0 updated, 0 unchanged, 0 moved, 0 missing, {BROKEN} failed",
        job.summary,
    )
    assert job.error_summary == {
        "corrupt": {"count": 3, "samples": [
            "broken/notes.mkv", "broken/random.mp4", "broken/truncated.mp4"]},
        "empty": {"count": 1, "samples": ["broken/empty.mp3"]},
    }  # fmt: skip
    rows = tracks(runtime.db)
    assert len(rows) == FILES
    video = rows["video/h264_aac.mp4"]
    assert (video.probe_status, video.resolution, video.video_codec) == ("ok", "160x120", "h264")
    assert rows["audio/flac24_5.1.flac"].audio_bit_depth == 24
    assert rows["broken/empty.mp3"].probe_error_class == "empty"
    assert rows["Videos/My Clip [dQw4w9WgXcQ].mp4"].video_id == "dQw4w9WgXcQ"


def test_progress_stream_has_the_stable_format(runtime: Runtime) -> None:
    job = scan(runtime)
    lines = progress_lines(runtime.db, job.id)
    assert len(lines) >= 2
    for line in lines:
        assert PROGRESS.match(line), line
        fields = dict(part.split("=", 1) for part in line.split()[1:])
        assert fields["job"] == str(job.id)
    last = dict(part.split("=", 1) for part in lines[-1].split()[1:])
    assert last["phase"] == "done"
    assert int(last["processed"]) == int(last["total"]) == FILES


def test_a_throttle_pause_does_not_hold_back_the_progress_lines(runtime: Runtime) -> None:
    """§5: a line at least every 2 s while running, a 6 s pause between batches included."""
    from mediashelf.jobs.service import cancel_job

    with runtime.db.unit_of_work() as session:
        params = {"batch_size": 1, "throttle_ms": 6000}
        job_id = create_job(session, runtime.registry, runtime.clock, kind="library_scan",
                            params=params, trigger="cli").id  # fmt: skip
    runtime.start_worker()

    def paused() -> bool:  # two lines in a row with nothing processed between them
        seen = [dict(p.split("=", 1) for p in line.split()[1:])
                for line in progress_lines(runtime.db, job_id)]  # fmt: skip
        seen = [f for f in seen if f["phase"] in ("probe", "apply")]
        return any(a["processed"] == b["processed"] for a, b in itertools.pairwise(seen))

    wait_until(paused, "two progress lines within one throttle pause", timeout_s=30)
    with runtime.db.unit_of_work() as session:
        cancel_job(session, runtime.clock, job_id, actor="test")
    assert wait_for_job(runtime, job_id, timeout_s=10).status == "cancelled"


def test_second_scan_finds_everything_unchanged(runtime: Runtime) -> None:
    scan(runtime)
    before = snapshot(runtime.db)
    job = scan(runtime)
    assert counts(job) == {
        "processed": FILES, "total": FILES, "added": 0, "updated": 0, "unchanged": FILES,
        "moved": 0, "missing": 0, "failed": 0, "skipped": 0,
    }  # fmt: skip
    assert snapshot(runtime.db) == before


def _change_library(library: Path) -> None:
    """Add, change, move and delete one file each."""
    shutil.copy(library / "audio/plain.mp3", library / "audio/added copy.mp3")
    (library / "video/h264_aac.mp4").write_bytes((library / "audio/aac.m4a").read_bytes())
    (library / "moved").mkdir()
    os.rename(library / "audio/opus.opus", library / "moved/opus.opus")
    os.remove(library / "audio/pcm_s16le_stereo.wav")


def test_incremental_scan_counts_each_change_exactly(runtime: Runtime, library: Path) -> None:
    scan(runtime)
    old = tracks(runtime.db)
    _change_library(library)
    job = scan(runtime)
    assert counts(job) == {
        "processed": FILES, "total": FILES, "added": 1, "updated": 1, "unchanged": FILES - 3,
        "moved": 1, "missing": 1, "failed": 0, "skipped": 0,
    }  # fmt: skip
    new = tracks(runtime.db)
    changed = new["video/h264_aac.mp4"]
    assert (changed.video_codec, changed.resolution, changed.audio_codec) == (None, None, "aac")
    moved = new["moved/opus.opus"]
    assert moved.video_id == old["audio/opus.opus"].video_id
    assert moved.id == old["audio/opus.opus"].id
    assert "audio/opus.opus" not in new
    gone = new["audio/pcm_s16le_stereo.wav"]
    assert gone.probe_status == "missing"
    assert gone.missing_since is not None
    assert gone.audio_codec == "pcm_s16le"  # facts are kept, the row is never deleted
    assert new["audio/added copy.mp3"].probe_status == "ok"


def test_missing_file_that_returns_is_probed_again(runtime: Runtime, library: Path) -> None:
    scan(runtime)
    data = (library / "audio/plain.mp3").read_bytes()
    os.remove(library / "audio/plain.mp3")
    assert scan(runtime).progress["missing"] == 1
    (library / "audio/plain.mp3").write_bytes(data)
    job = scan(runtime)
    assert (job.progress["updated"], job.progress["missing"]) == (1, 0)
    back = tracks(runtime.db)["audio/plain.mp3"]
    assert (back.probe_status, back.missing_since) == ("ok", None)


def test_move_by_bracketed_id_keeps_the_id_even_when_the_file_changed(
    runtime: Runtime, library: Path
) -> None:
    scan(runtime)
    source = library / "Videos/My Clip [dQw4w9WgXcQ].mp4"
    target = library / "Archive/Renamed [dQw4w9WgXcQ].mp4"
    target.parent.mkdir()
    target.write_bytes(source.read_bytes() + b"\0" * 16)
    source.unlink()
    job = scan(runtime)
    assert (job.progress["moved"], job.progress["added"], job.progress["missing"]) == (1, 0, 0)
    moved = tracks(runtime.db)["Archive/Renamed [dQw4w9WgXcQ].mp4"]
    assert moved.video_id == "dQw4w9WgXcQ"
    assert moved.title == "Renamed"
    assert moved.fingerprint_size == target.stat().st_size


@pytest.mark.parametrize("batch_size", [2, 200])
def test_a_folder_renamed_to_a_later_name_is_moved_not_braked(
    runtime: Runtime, library: Path, batch_size: int
) -> None:
    """Its old paths come first: their rows were marked missing batch by batch before the
    new paths showed them moved, and the brake (a third of the tracks "went missing") failed
    every later scan for good, though the diff had counted moves and no missing."""
    scan(runtime)
    ids = {rel: t.video_id for rel, t in tracks(runtime.db).items() if rel.startswith("audio/")}
    assert len(ids) > 0.2 * len(tracks(runtime.db))  # past the brake's 20 %
    (library / "audio").rename(library / "zz audio")
    job = scan(runtime, batch_size=batch_size)
    assert job.status == "completed", job.summary
    assert (job.progress["moved"], job.progress["missing"]) == (len(ids), 0)
    after = tracks(runtime.db)
    assert {rel: after["zz " + rel].video_id for rel in ids} == ids
    assert all(t.missing_since is None for t in after.values())


def test_tracks_under_a_folder_that_cannot_be_read_are_kept_not_missing(
    runtime: Runtime, library: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unreadable folders are logged and skipped: their tracks were marked missing (and
    listed as problems) though their files were there all along."""
    scan(runtime)
    before = {rel: t for rel, t in tracks(runtime.db).items() if rel.startswith("audio/")}
    # Tests run as root, where chmod 000 does not stop reads: refuse at scandir() instead.
    locked = (library / "audio").resolve()
    real_scandir = os.scandir

    def refusing_scandir(path: Any = ".") -> Any:
        if Path(path).resolve() == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", refusing_scandir)
    for path in (library / "video").iterdir():  # work elsewhere, so the scan writes
        os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    job = scan(runtime, batch_size=2)
    assert job.status == "completed", job.summary
    assert job.progress["missing"] == 0
    assert job.error_summary is not None
    assert "unreadable" in job.error_summary
    after = tracks(runtime.db)
    assert all(after[rel].missing_since is None for rel in before)
    assert {rel: after[rel].probe_status for rel in before} == {
        rel: t.probe_status for rel, t in before.items()
    }
    monkeypatch.setattr(os, "scandir", real_scandir)
    assert counts(scan(runtime))["missing"] == 0


def test_dry_run_reports_and_writes_nothing(runtime: Runtime, library: Path) -> None:
    scan(runtime)
    _change_library(library)
    before = snapshot(runtime.db)
    job = scan(runtime, dry_run=True)
    assert job.status == "completed"
    assert job.summary is not None
    assert job.summary.startswith("Library scan (dry run) completed")
    assert (job.progress["added"], job.progress["updated"], job.progress["moved"]) == (1, 1, 1)
    assert job.progress["missing"] == 1
    assert job.result is not None
    assert job.result["would"]["add"] == ["audio/added copy.mp3"]
    assert job.result["would"]["move"] == ["moved/opus.opus"]
    assert job.result["would"]["missing"] == ["audio/pcm_s16le_stereo.wav"]  # not the move
    assert snapshot(runtime.db) == before
    assert counts(scan(runtime)) == {  # the real scan then does what the dry run said
        k: job.progress[k] for k in counts(job)
    }


def test_brake_refuses_mass_missing_and_changes_nothing(runtime: Runtime, library: Path) -> None:
    scan(runtime)
    before = snapshot(runtime.db)
    for path in sorted(p for p in library.rglob("*") if p.is_file())[::2]:
        path.unlink()
    job = scan(runtime)
    assert job.status == "failed"
    assert job.attempt == 1  # permanent: no retries
    assert job.error is not None
    assert "library root looks offline" in job.error
    assert snapshot(runtime.db) == before
    logged = " ".join(line.message for line in job_lines(runtime.db, job.id))
    assert "library root looks offline" in logged
    assert "Traceback" not in logged  # foreseen: its message, not source paths
    assert 'File "' not in logged


@pytest.mark.parametrize("how", ["emptied", "root missing"])
def test_offline_library_is_waited_for_then_fails_without_changes(
    runtime: Runtime, library: Path, how: str
) -> None:
    scan(runtime)
    before = snapshot(runtime.db)
    if how == "emptied":  # an unmounted drive leaves an empty mount point
        for path in library.iterdir():
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    else:
        shutil.rmtree(library)
    job = scan(runtime)
    assert job.status == "failed"
    assert job.attempt == job.max_attempts  # offline is not permanent: each attempt waited
    assert job.error is not None
    assert "library stayed unavailable" in job.error
    messages = [line.message for line in job_lines(runtime.db, job.id)]
    assert sum(m.startswith("waiting for the library") for m in messages) == job.max_attempts
    assert snapshot(runtime.db) == before


@pytest.mark.parametrize("how", ["never existed", "a file", "gone before the first scan"])
def test_a_root_never_seen_fails_at_once_without_waiting(
    database: Database, library: Path, probe_pool: ProbePool, tmp_path: Path, how: str
) -> None:
    root = tmp_path / "mistyped"
    if how == "a file":
        root.write_bytes(b"not a folder")
    elif how == "gone before the first scan":
        root = library
        shutil.rmtree(library)
    runtime = make_runtime(database, root, probe_pool, library_wait_s=600)
    try:
        job = scan(runtime)  # waiting 600 s would outlast the 60 s this allows
    finally:
        if runtime.worker is not None:
            runtime.worker.stop()
    assert job.status == "failed"
    assert job.attempt == 1  # permanent: retrying cannot make a mistyped path right
    assert job.error is not None
    assert "nothing to wait for" in job.error
    assert "MEDIASHELF_LIBRARY" in job.error
    assert str(tmp_path) not in job.error
    messages = [line.message for line in job_lines(database, job.id)]
    assert not any(m.startswith("waiting for the library") for m in messages)
    assert snapshot(database) == []


def test_allow_mass_missing_marks_them(runtime: Runtime, library: Path) -> None:
    scan(runtime)
    for path in sorted(library.joinpath("audio").iterdir()):
        path.unlink()
    for path in sorted(library.joinpath("video").iterdir()):
        path.unlink()
    gone = sum(1 for t in tracks(runtime.db) if t.startswith(("audio/", "video/")))
    job = scan(runtime, allow_mass_missing=True)
    assert job.status == "completed"
    assert job.progress["missing"] == gone


def test_force_reprobes_unchanged_files(runtime: Runtime) -> None:
    scan(runtime)
    before = tracks(runtime.db)
    job = scan(runtime, force=True)
    after = tracks(runtime.db)
    for relpath, track in after.items():
        old = before[relpath].probed_at
        assert old is not None
        assert track.probed_at is not None
        assert track.probed_at > old, relpath  # every file was probed again
    assert counts(job) == {
        "processed": FILES, "total": FILES, "added": 0, "updated": 0,
        "unchanged": FILES - BROKEN, "moved": 0, "missing": 0, "failed": BROKEN, "skipped": 0,
    }  # fmt: skip


def test_path_scope_touches_only_that_folder(runtime: Runtime, library: Path) -> None:
    scan(runtime)
    os.remove(library / "video/vp9_opus.webm")  # outside the scope: must not become missing
    (library / "audio/plain.mp3").touch()
    audio = sum(1 for p in (library / "audio").iterdir())
    job = scan(runtime, path="audio")
    assert (job.progress["total"], job.progress["updated"], job.progress["missing"]) == (
        audio, 1, 0,
    )  # fmt: skip
    assert tracks(runtime.db)["video/vp9_opus.webm"].probe_status == "ok"


def test_a_backslash_in_a_folder_name_scopes_that_folder(runtime: Runtime, library: Path) -> None:
    r"""On POSIX `\` is a name character: `A\B` is one folder, not `A/B`.

    The scope turned it into `A/B`, so a scan of `A\B` (a watch burst in it, or `--path`)
    scanned the other folder and marked its own files nowhere.
    """
    (library / "A\\B").mkdir()
    (library / "A/B").mkdir(parents=True)
    shutil.copy(library / "audio/plain.mp3", library / "A\\B/inside.mp3")
    shutil.copy(library / "audio/plain.mp3", library / "A/B/other.mp3")
    job = scan(runtime, path="A\\B")
    assert job.status == "completed", job.error
    assert (job.progress["total"], job.progress["added"]) == (1, 1)
    assert set(tracks(runtime.db)) == {"A\\B/inside.mp3"}
    assert ScanParams(path="\\A\\").path == "\\A\\"  # a name, not an absolute path


def test_throttle_and_rate_limit_params_are_honoured(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []
    real_sleep = JobContext.sleep

    def counted(ctx: JobContext, seconds: float) -> None:
        waits.append(seconds)
        real_sleep(ctx, seconds)

    paced: list[float | None] = []
    real_next = Pacer.next_item

    def counted_item(pacer: Pacer) -> None:
        paced.append(pacer.items_per_s)
        real_next(pacer)

    monkeypatch.setattr(JobContext, "sleep", counted)
    monkeypatch.setattr(Pacer, "next_item", counted_item)
    job = scan(runtime, batch_size=5, throttle_ms=10, max_probes_per_s=50)
    assert job.status == "completed"
    assert job.progress["added"] == FILES - BROKEN
    assert job.params["batch_size"] == 5
    batches = -(-FILES // 5)
    assert waits.count(0.01) == batches  # the throttle between every two batches
    assert paced == [50.0] * FILES  # every probe waited its turn at the rate (tests/jobs)
    assert all(w <= 1 / 50 + 1e-9 for w in waits if w != 0.01)


@pytest.mark.parametrize(
    "params", [{"batch_size": 0}, {"force": "sometimes"}, {"unknown": 1}, {"throttle_ms": -1}]
)
def test_bad_params_are_refused(runtime: Runtime, params: dict[str, object]) -> None:
    with runtime.db.unit_of_work() as session, pytest.raises(InvalidJobRequest):
        create_job(session, runtime.registry, runtime.clock, kind="library_scan", params=params)


def test_files_that_hang_the_prober_are_quarantined(database: Database, library: Path) -> None:
    shutil.copy(library / "audio/plain.mp3", library / "audio/hang me.mp3")
    with ProbePool(HangingProber(), processes=1, timeout_s=0.5) as pool:
        runtime = make_runtime(database, library, pool)
        try:
            first = scan(runtime)
            assert first.error_summary is not None
            assert first.error_summary["timeout"] == {"count": 1, "samples": ["audio/hang me.mp3"]}
            second = scan(runtime)
            assert (second.progress["failed"], second.progress["skipped"]) == (1, 0)
            third = scan(runtime)
            assert (third.progress["failed"], third.progress["skipped"]) == (0, 1)
            assert tracks(database)["audio/hang me.mp3"].probe_failures == 2
            forced = scan(runtime, force=True)
            assert forced.error_summary is not None
            assert forced.error_summary["timeout"]["count"] == 1
        finally:
            runtime.close()


def test_a_file_refused_for_its_permissions_is_tried_again_by_the_next_scan(
    database: Database, library: Path, tmp_path: Path
) -> None:
    """A chmod leaves size and mtime alone: the next scans called the file unchanged and its
    `permission` failure stood ("0 failed" beside a permission problem) until a forced scan."""
    shutil.copy(library / "audio/plain.mp3", library / "audio/locked.mp3")
    lock = tmp_path / "lock"
    lock.touch()
    with ProbePool(LockedProber(lock), processes=1, timeout_s=30.0) as pool:
        runtime = make_runtime(database, library, pool)
        try:
            first = scan(runtime)
            assert first.error_summary is not None
            assert first.error_summary["permission"]["samples"] == ["audio/locked.mp3"]
            lock.unlink()  # the owner fixed its mode
            second = scan(runtime)
            assert (second.progress["updated"], second.progress["failed"]) == (1, 0)
            fixed = tracks(database)["audio/locked.mp3"]
            assert (fixed.probe_status, fixed.probe_error_class) == ("ok", None)
            assert fixed.duration
        finally:
            runtime.close()


def test_a_slow_file_does_not_hold_back_the_progress_lines(
    database: Database, library: Path
) -> None:
    """A probe running up to its timeout still gets a line every 2 s (§5)."""
    shutil.copy(library / "audio/plain.mp3", library / "audio/hang me.mp3")
    with ProbePool(HangingProber(), processes=1, timeout_s=5.0) as pool:
        runtime = make_runtime(database, library, pool)
        try:
            job = scan(runtime, path="audio")
            lines = [dict(p.split("=", 1) for p in line.split()[1:])
                     for line in progress_lines(database, job.id)]  # fmt: skip
            assert job.error_summary is not None
            assert "timeout" in job.error_summary
            probing = [f["processed"] for f in lines if f["phase"] == "probe"]
            assert len(probing) >= 2, lines  # written while the one file hung
        finally:
            runtime.close()


def test_a_paced_batch_shows_its_probes_as_they_are_done(runtime: Runtime) -> None:
    """A paced scan hands its batch to the pool one file at a time, for as long as the batch
    takes (22 files at 5 a second here, 40 s for a batch of 200): its lines said processed=0
    all along, and then jumped to the end, so a slow scan looked hung."""
    job = scan(runtime, max_probes_per_s=5, batch_size=200)
    assert job.status == "completed", job.error
    lines = [dict(p.split("=", 1) for p in line.split()[1:])
             for line in progress_lines(runtime.db, job.id)]  # fmt: skip
    probing = [int(f["processed"]) for f in lines if f["phase"] == "probe"]
    assert [n for n in probing if 0 < n < FILES], lines  # moving while the batch went out
    assert probing == sorted(probing), probing  # never backwards


def test_the_job_log_names_each_failed_file_and_why_up_to_a_cap(runtime: Runtime) -> None:
    """A failed file showed only as a count and five samples: the log now says which file
    failed and why, up to 50, then once that the rest are listed in the problems view."""
    job = scan(runtime)
    failed = [r for r in tracks(runtime.db).values() if r.probe_status == "error"]
    assert len(failed) == BROKEN
    lines = [line.message for line in job_lines(runtime.db, job.id)]
    for track in failed:
        [line] = [x for x in lines if x.startswith(f"failed {track.relpath!r} ")]
        assert f"({track.probe_error_class}): {track.probe_error}" in line
    junk = runtime.root / "junk"
    junk.mkdir()
    for n in range(LINES_OF_A_KIND + 5):
        (junk / f"{n:03}.mp3").write_bytes(bytes(range(256)) * 8)
    job = scan(runtime, path="junk")
    logged = [line.message for line in job_lines(runtime.db, job.id)]
    lines = [x for x in logged if "junk/" in x or "more failed" in x]
    assert job.progress["failed"] == LINES_OF_A_KIND + 5
    assert len(lines) == LINES_OF_A_KIND + 1, lines
    assert lines[-1].startswith("more failed files are not named here"), lines[-1]


def test_every_scan_names_its_skipped_files_even_one_that_writes_nothing(
    runtime: Runtime,
) -> None:
    """An unchanged scan counted its skips but named none: "7 skipped" and no line why."""
    for n in range(3):
        (runtime.root / f"audio/dangling {n}.mp3").symlink_to(runtime.root / "nowhere.mp3")
    for _ in ("first scan", "unchanged scan"):
        job = scan(runtime)
        assert job.progress["skipped"] == 3
        named = [line.message for line in job_lines(runtime.db, job.id)
                 if line.message.startswith("skipped 'audio/dangling ")]  # fmt: skip
        assert len(named) == 3, named
    assert job.progress["added"] == 0  # the second wrote nothing


def test_configured_extensions_decide_what_is_scanned(
    database: Database, library: Path, probe_pool: ProbePool
) -> None:
    shutil.copy(library / "audio/plain.mp3", library / "audio/renamed.xyz")
    mp3s = sum(1 for p in library.rglob("*") if p.suffix.lower() == ".mp3")
    runtime = make_runtime(
        database, library, probe_pool, extensions_extra=("xyz",), extensions_exclude=("mp3",)
    )
    try:
        job = scan(runtime)
    finally:
        runtime.close()
    rows = tracks(database)
    assert rows["audio/renamed.xyz"].probe_status == "ok"
    assert rows["audio/renamed.xyz"].filetype == "xyz"
    assert not [r for r in rows if r.endswith(".mp3")]
    assert job.progress["total"] == FILES - mp3s + 1


def test_tracks_of_an_older_prober_are_reprobed_by_a_plain_scan(runtime: Runtime) -> None:
    scan(runtime)
    with runtime.db.unit_of_work() as session:
        session.execute(
            update(Track)
            .where(Track.relpath.in_(["audio/plain.mp3", "video/h264_aac.mp4"]))
            .values(probe_version=NORMALIZER_VERSION - 1, audio_bit_depth=99)
        )
    job = scan(runtime)
    assert job.progress["reprobed"] == 2
    assert (job.progress["updated"], job.progress["unchanged"]) == (2, FILES - 2)
    assert job.summary is not None
    assert job.summary.endswith(", 2 re-probed")
    assert "reprobed" not in progress_lines(runtime.db, job.id)[-1]  # DESIGN §5's fields only
    rows = tracks(runtime.db)
    assert {rows[r].probe_version for r in rows if rows[r].probe_status == "ok"} == {
        NORMALIZER_VERSION
    }
    assert rows["audio/plain.mp3"].audio_bit_depth is None  # the stale fact is gone
    assert scan(runtime).progress["reprobed"] == 0  # once is enough
