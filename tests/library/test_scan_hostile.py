"""Full library scans of hostile trees and requests, on SQLite and PostgreSQL: links that loop,
dangle or leave the library, undecodable names, `[id]` collisions, an 18-channel WAV, 70,000
tracks going missing at once, a root that vanishes mid-scan, bad scan requests and
enqueue-or-join through the CLI."""

from __future__ import annotations

import os
import shutil
import struct
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import bindparam, func, select, text
from typer.testing import CliRunner

from mediashelf.cli.main import app
from mediashelf.db.schema import Job, JobLog, Track
from mediashelf.db.session import Database
from mediashelf.errors import InvalidJobRequest
from mediashelf.jobs.service import create_job
from mediashelf.library.ids import derived_id, is_valid_video_id
from mediashelf.library.scan_request import request_scan
from mediashelf.probe.base import Prober
from mediashelf.probe.pool import ProbePool
from mediashelf.runtime import Runtime
from tests.conftest import make_runtime, run_job, scan
from tests.jobs.outage_tools import DeletingProber, VanishingProber, load_job, wait_for_end
from tests.polling import wait_until

FILES = 22  # media files in the per-test library copy of the corpus
BROKEN = 4
MAX_TEXT = 4096
cli = CliRunner()


def tracks(db: Database) -> dict[str, Track]:
    """Return every track by relpath."""
    with db.unit_of_work() as session:
        return {t.relpath: t for t in session.scalars(select(Track))}


def job_messages(db: Database, job_id: int) -> list[tuple[str, str]]:
    """Return (level, message) of the job's `job` stream, oldest first."""
    with db.unit_of_work() as session:
        query = select(JobLog.level, JobLog.message).where(
            JobLog.job_id == job_id, JobLog.stream == "job"
        )
        return [(level, message) for level, message in session.execute(query.order_by(JobLog.id))]


def job_count(db: Database) -> int:
    """Return how many jobs exist."""
    with db.unit_of_work() as session:
        return int(session.scalar(select(func.count()).select_from(Job)) or 0)


def missing_count(db: Database) -> int:
    """Return how many tracks are marked missing."""
    with db.unit_of_work() as session:
        query = select(func.count()).where(Track.missing_since.is_not(None))
        return int(session.scalar(query) or 0)


def track_count(db: Database) -> int:
    """Return how many tracks exist."""
    with db.unit_of_work() as session:
        return int(session.scalar(select(func.count()).select_from(Track)) or 0)


def index_once(database: Database, library: Path, probe_pool: ProbePool) -> None:
    """Scan the library once to completion and stop that runtime's worker."""
    first = make_runtime(database, library, probe_pool)
    try:
        assert scan(first).status == "completed"
    finally:
        if first.worker is not None:
            first.worker.stop()


def outcome_sum(progress: dict[str, Any]) -> int:
    """Return the sum of the per-file outcome buckets."""
    names = ("added", "updated", "unchanged", "moved", "failed", "skipped")
    return sum(int(progress[name]) for name in names)


# -- 1: links and names --------------------------------------------------------------------


def test_hostile_entries_are_skipped_counted_and_classed(
    runtime: Runtime, library: Path, tmp_path: Path
) -> None:
    loops = library / "loops"
    loops.mkdir()
    (loops / "up").symlink_to("..")  # a folder link back to an ancestor (the root)
    (loops / "here").symlink_to(".")  # a folder link to the folder it sits in
    (library / "self.mp3").symlink_to("self.mp3")  # a link to itself
    (library / "gone.mp3").symlink_to("nowhere/gone.mp3")  # dangling, named like media
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(library / "audio/plain.mp3", outside / "real.mp3")
    (library / "escape.mp3").symlink_to(outside / "real.mp3")  # a file link leaving the library
    (library / "escape-dir").symlink_to(outside)  # a folder link leaving the library
    bad = os.path.join(os.fsencode(library), b"bad \xff name.mp3")  # not UTF-8
    with open(bad, "wb") as handle:
        handle.write((library / "audio/plain.mp3").read_bytes())
    os.mkfifo(library / "pipe.mp3")  # a FIFO named like media: reading it would block

    job = scan(runtime)

    assert job.status == "completed", (job.error, job.errors)
    p = job.progress
    hostile = 8
    assert p["skipped"] == hostile, (p, job.error_summary)
    assert p["processed"] == p["total"] == FILES + hostile, p
    assert (p["added"], p["failed"], p["missing"]) == (FILES - BROKEN, BROKEN, 0), p
    assert outcome_sum(p) == p["processed"]
    summary = job.error_summary or {}
    classes = {name: entry["count"] for name, entry in summary.items()}
    assert classes == {
        "corrupt": 3, "empty": 1, "symlink_loop": 3, "dangling_link": 1, "outside_library": 2,
        "bad_name": 1, "not_a_file": 1,
    }, summary  # fmt: skip
    assert summary["not_a_file"]["samples"] == ["pipe.mp3"]
    assert set(summary["symlink_loop"]["samples"]) == {"loops/up", "loops/here", "self.mp3"}
    assert summary["dangling_link"]["samples"] == ["gone.mp3"]
    assert set(summary["outside_library"]["samples"]) == {"escape.mp3", "escape-dir"}
    assert len(tracks(runtime.db)) == FILES  # no link became a track, nothing counted twice


# -- 2: [id] collisions ---------------------------------------------------------------------


@pytest.mark.parametrize("batch_size", [200, 1], ids=["one batch", "batch_size=1"])
def test_id_collisions_give_both_files_distinct_deterministic_ids(
    database: Database, library: Path, tmp_path: Path, probe_pool: ProbePool, batch_size: int
) -> None:
    root = tmp_path / "collide"
    root.mkdir()
    clip = (library / "audio/plain.mp3").read_bytes()
    taken_by_y = derived_id("y.mp3")  # the bracketed file sorts first and takes y's id
    taken_by_a = derived_id("a.mp3")  # the plain file sorts first; the bracketed one yields
    names = {
        "x": f"x [{taken_by_y}].mp3", "y": "y.mp3", "a": "a.mp3", "b": f"b [{taken_by_a}].mp3",
    }  # fmt: skip
    for name in names.values():
        (root / name).write_bytes(clip)
    runtime = make_runtime(database, root, probe_pool)
    try:
        job = scan(runtime, batch_size=batch_size)
        assert job.status == "completed", (job.error, job.errors)
        assert (job.progress["added"], job.progress["failed"]) == (4, 0), job.progress
        ids = {key: tracks(database)[name].video_id for key, name in names.items()}
        assert len(set(ids.values())) == 4, ids
        assert all(is_valid_video_id(value) for value in ids.values()), ids
        assert ids["x"] == taken_by_y  # the earlier file keeps the id it asked for
        assert ids["a"] == taken_by_a
        # The later file yields by the documented rule: the id derived from its relpath,
        # then from "relpath#1", "relpath#2"… (y's own derived id is the one taken).
        assert ids["y"] == derived_id("y.mp3#1")
        assert ids["b"] == derived_id(names["b"])
        log = " ".join(message for _, message in job_messages(database, job.id))
        for key, wanted in (("y", taken_by_y), ("b", taken_by_a)):
            assert f"id {wanted} is taken" in log, log
            assert names[key] in log

        again = scan(runtime, batch_size=batch_size)
        assert again.status == "completed"
        assert (again.progress["unchanged"], again.progress["added"]) == (4, 0), again.progress
        assert {key: tracks(database)[name].video_id for key, name in names.items()} == ids
    finally:
        if runtime.worker is not None:
            runtime.worker.stop()


# -- 3: many channels ------------------------------------------------------------------------


def write_extensible_wav(
    path: Path, channels: int, rate: int = 48_000, frames: int = 4_800
) -> None:
    """Write silent 16-bit PCM as WAVE_FORMAT_EXTENSIBLE with every speaker bit set."""
    bits, align = 16, channels * 2
    pcm_guid = struct.pack("<IHH8s", 1, 0, 0x10, b"\x80\x00\x00\xaa\x00\x38\x9b\x71")
    mask = (1 << channels) - 1
    fmt = struct.pack(
        "<HHIIHHHHI", 0xFFFE, channels, rate, rate * align, align, bits, 22, bits, mask
    ) + pcm_guid  # fmt: skip
    data = bytes(frames * align)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(data)) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)


def test_eighteen_channel_wav_is_stored_with_its_long_layout(
    runtime: Runtime, library: Path
) -> None:
    write_extensible_wav(library / "audio/eighteen.wav", channels=18)
    job = scan(runtime)
    assert job.status == "completed", (job.error, job.errors)
    assert (job.progress["added"], job.progress["failed"]) == (FILES + 1 - BROKEN, BROKEN)
    track = tracks(runtime.db)["audio/eighteen.wav"]
    assert (track.probe_status, track.audio_channels) == ("ok", 18), track.probe_error
    assert track.audio_channel_layout is not None
    assert len(track.audio_channel_layout) > 64  # longer than the old String(64) column
    assert "TBR" in track.audio_channel_layout


# -- 4: 70,000 tracks go missing in one scan ---------------------------------------------------

GONE = 70_000


_GONE_ROWS = {  # generated by the database itself from n = 0 … count-1 (fast bulk set-up)
    "postgresql": (
        "WITH s(n) AS (SELECT generate_series(0, :count - 1))",
        "'gone' || lpad(n::text, 7, '0')", "'gone/' || lpad(n::text, 6, '0') || '.mp3'",
    ),
    "sqlite": (
        "WITH RECURSIVE s(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM s WHERE n < :count - 1)",
        "'gone' || substr('0000000' || n, -7)", "'gone/' || substr('000000' || n, -6) || '.mp3'",
    ),
}  # fmt: skip


def add_gone_tracks(db: Database, count: int) -> None:
    """Insert `count` probed tracks whose files do not exist (bulk, in set-up)."""
    series, video_id, relpath = _GONE_ROWS[db.dialect]
    statement = text(
        f"{series} INSERT INTO tracks (video_id, relpath, title, filetype, size_bytes, "
        "fingerprint_size, fingerprint_mtime_ns, probe_status, probe_failures, added_at, "
        f"updated_at, probed_at) SELECT {video_id}, {relpath}, 'gone', 'mp3', 1000 + n, "
        "1000 + n, 1700000000000000000 + n, 'ok', 0, :now, :now, :now FROM s"
    ).bindparams(
        bindparam("count", count), bindparam("now", datetime(2026, 1, 1, tzinfo=UTC),
                                             type_=Track.__table__.c.added_at.type),
    )  # fmt: skip
    with db.unit_of_work() as session:
        session.execute(statement)
        assert session.scalar(select(func.count()).select_from(Track)) == count


def test_seventy_thousand_tracks_marked_missing_in_one_scan(runtime: Runtime) -> None:
    add_gone_tracks(runtime.db, GONE)
    params: dict[str, object] = {"allow_mass_missing": True, "batch_size": 5000}
    # 14 chunks of 5,000 rows: 14-28 s on a quiet machine with PostgreSQL; a loaded one
    # takes twice that, and the test is about what the scan writes, not how fast.
    job = run_job(runtime, "library_scan", params, timeout_s=240)
    assert job.status == "completed", (job.error, job.errors)
    assert job.progress["missing"] == GONE, job.progress
    assert (job.progress["added"], job.progress["failed"]) == (FILES - BROKEN, BROKEN)
    assert missing_count(runtime.db) == GONE
    with runtime.db.unit_of_work() as session:
        texts = session.execute(select(Job.id, Job.summary, Job.error, Job.errors)).all()
    for job_id, summary, error, errors in texts:
        for stored in (summary, error, *[entry.get("error") for entry in errors or []]):
            assert stored is None or len(stored.encode()) <= MAX_TEXT, (job_id, len(stored or ""))


# -- 5: the root vanishes mid-scan -----------------------------------------------------------


def vanishing_runtime(database: Database, library: Path, pool: ProbePool, wait_s: float) -> Runtime:
    """A runtime whose scans probe through `pool` and wait `wait_s` for an offline library."""
    return make_runtime(database, library, pool, library_wait_s=wait_s)


def forced_scan_through(
    prober: Prober, database: Database, library: Path, batch_size: int, wait_s: float = 120.0
) -> Job:
    """Run a forced scan whose probes go through `prober` (one pool process); return the job."""
    with ProbePool(prober, processes=1, timeout_s=20) as pool:
        runtime = vanishing_runtime(database, library, pool, wait_s=wait_s)
        try:
            return scan(runtime, force=True, batch_size=batch_size)
        finally:
            runtime.close()


def scan_while_the_root_vanishes_and_returns(
    database: Database, library: Path, probe_pool: ProbePool, tmp_path: Path,
    while_away: Callable[[int], None] = lambda _job_id: None,
) -> Job:  # fmt: skip
    """Scan once, then force a scan (batches of 4) whose root vanishes at plain.mp3.

    The scan waits for the library; `while_away(job_id)` runs then, the root comes back, and
    the ended job is returned.
    """
    index_once(database, library, probe_pool)
    away = str(tmp_path / "library-away")
    prober = VanishingProber(str(library), away, trigger="plain.mp3")
    with ProbePool(prober, processes=1, timeout_s=20) as pool:
        runtime = vanishing_runtime(database, library, pool, wait_s=60)
        try:
            with database.unit_of_work() as session:
                job_id = create_job(
                    session, runtime.registry, runtime.clock, kind="library_scan",
                    params={"force": True, "batch_size": 4}, trigger="cli", actor="test",
                ).id  # fmt: skip
            runtime.start_worker()
            wait_until(lambda: os.path.isdir(away), "the library root to vanish")
            wait_until(lambda: load_job(database, job_id).progress.get("phase") == "waiting",
                       "the job to show phase waiting", timeout_s=15)  # fmt: skip
            while_away(job_id)
            os.rename(away, library)
            return wait_for_end(database, job_id, timeout_s=60)
        finally:
            runtime.close()


def test_root_lost_mid_scan_marks_nothing_missing_and_resumes_when_back(
    database: Database, library: Path, probe_pool: ProbePool, tmp_path: Path
) -> None:
    def while_away(job_id: int) -> None:
        waiting = [m for _, m in job_messages(database, job_id)]
        assert any(m.startswith("waiting for the library") for m in waiting), waiting
        assert missing_count(database) == 0
        assert load_job(database, job_id).status == "running"

    job = scan_while_the_root_vanishes_and_returns(
        database, library, probe_pool, tmp_path, while_away
    )
    assert job.status == "completed", (job.error, job.errors)
    p = job.progress
    assert (p["processed"], p["total"], p["missing"], p["skipped"]) == (FILES, FILES, 0, 0), p
    assert (p["unchanged"], p["failed"], p["added"], p["updated"]) == (
        FILES - BROKEN, BROKEN, 0, 0,
    ), p  # fmt: skip
    assert missing_count(database) == 0
    assert job.error_summary is not None
    assert set(job.error_summary) == {"corrupt", "empty"}, job.error_summary


def test_root_lost_mid_scan_for_good_fails_saying_nothing_was_marked(
    database: Database, library: Path, probe_pool: ProbePool, tmp_path: Path
) -> None:
    index_once(database, library, probe_pool)
    away = str(tmp_path / "library-away")
    prober = VanishingProber(str(library), away, trigger="plain.mp3")
    job = forced_scan_through(prober, database, library, batch_size=4, wait_s=0.5)
    assert os.path.isdir(away)
    assert job.status == "failed"
    assert job.error is not None
    assert "nothing was marked missing" in job.error
    assert missing_count(database) == 0
    assert all(t.missing_since is None for t in tracks(database).values())


# -- 6: scan requests that cannot succeed are refused before a job exists ---------------------

BAD_REQUESTS: list[tuple[dict[str, Any], list[str], str]] = [
    ({"path": "../etc"}, ["--path", "../etc"], "path"),
    ({"path": "/etc"}, ["--path", "/etc"], "path"),
    ({"path": "no/such/folder"}, ["--path", "no/such/folder"], "no/such/folder"),
    ({"path": "video/to-root"}, ["--path", "video/to-root"], "a link to a folder is not one"),
    ({"max_probes_per_s": 1e-300}, ["--max-probes-per-s", "1e-300"], "max_probes_per_s"),
    ({"max_probes_per_s": float("nan")}, ["--max-probes-per-s", "nan"], "finite number"),
    ({"batch_size": 0}, ["--batch-size", "0"], "batch_size"),
]


def cli_env(database: Database, library: Path) -> dict[str, str]:
    """Environment pointing the CLI at `database` and `library` (no worker settings)."""
    return {
        "MEDIASHELF_DATABASE_URL": database.url, "MEDIASHELF_LIBRARY": str(library),
        "MEDIASHELF_LIBRARY_WAIT_S": "0.3",
    }  # fmt: skip


def one_line(text: str) -> str:
    """Collapse whitespace (rich wraps long messages)."""
    return " ".join(text.split())


@pytest.mark.parametrize(
    ("params", "flags", "named"), BAD_REQUESTS, ids=[str(p) for p, _, _ in BAD_REQUESTS]
)
def test_bad_scan_requests_are_refused_with_no_job_created(
    runtime: Runtime, library: Path, params: dict[str, Any], flags: list[str], named: str
) -> None:
    (library / "video/to-root").symlink_to(library, target_is_directory=True)
    with runtime.db.unit_of_work() as session, pytest.raises(InvalidJobRequest) as direct:
        create_job(session, runtime.registry, runtime.clock, kind="library_scan", params=params)
    assert named in direct.value.message
    with runtime.db.unit_of_work() as session, pytest.raises(InvalidJobRequest):
        request_scan(session, runtime.registry, runtime.clock, params, trigger="api", actor="api")
    assert job_count(runtime.db) == 0

    result = cli.invoke(app, ["scan", *flags, "--no-wait"], env=cli_env(runtime.db, library))
    assert result.exit_code == 2, result.output
    assert named in one_line(result.output), result.output
    assert "Traceback" not in result.output
    assert job_count(runtime.db) == 0


# -- 7: enqueue-or-join through the CLI -----------------------------------------------------


def test_cli_scan_joins_an_equivalent_scan_and_refuses_a_different_one(
    database: Database, library: Path
) -> None:
    env = cli_env(database, library)
    queued = cli.invoke(app, ["scan", "--path", "audio", "--no-wait"], env=env)
    assert queued.exit_code == 0, queued.output
    job_id = int(queued.stdout.strip())
    assert load_job(database, job_id).status == "pending"

    other = cli.invoke(app, ["scan"], env=env)
    assert other.exit_code != 0, other.output
    refused = one_line(other.output)
    assert f"job {job_id}" in refused, refused
    assert "path='audio'" in refused, refused
    assert "Library scan completed" not in refused  # it neither ran nor reported that job
    job = load_job(database, job_id)
    assert (job.status, job.attempt, job.started_at) == ("pending", 0, None)
    assert job_count(database) == 1

    joined = cli.invoke(app, ["scan", "--path", "audio", "--no-wait"], env=env)
    assert joined.exit_code == 0, joined.output
    assert int(joined.stdout.strip()) == job_id
    assert f"job {job_id}" in one_line(joined.stderr), joined.stderr
    assert "already active" in one_line(joined.stderr)
    assert job_count(database) == 1
    assert load_job(database, job_id).status == "pending"


def test_skips_are_counted_once_when_a_scan_resumes_after_the_root_came_back(
    database: Database, library: Path, probe_pool: ProbePool, tmp_path: Path
) -> None:
    """The walk runs a batch ahead of what is written: skips it met there are not yet saved."""
    media = sorted(p for p in library.rglob("*.*") if p.is_file() and "junk" not in p.parts)
    links = [p.with_name(p.name + "-gone.mp3") for p in media]  # one right after each file
    for link in links:
        link.symlink_to(tmp_path / "nowhere.mp3")
    job = scan_while_the_root_vanishes_and_returns(database, library, probe_pool, tmp_path)
    assert job.status == "completed", (job.error, job.errors)
    p = job.progress
    assert (p["skipped"], p["processed"], p["total"]) == (
        len(links), FILES + len(links), FILES + len(links),
    ), p  # fmt: skip
    assert job.error_summary is not None
    assert job.error_summary["dangling_link"]["count"] == len(links), job.error_summary


def test_root_replaced_mid_scan_by_a_folder_that_is_not_empty_marks_nothing(
    database: Database, library: Path, probe_pool: ProbePool, tmp_path: Path
) -> None:
    """A mount dropped or replaced while files remain at the mount point: not empty, so
    only the root's identity (its inode) tells. Up to the brake's 20 % were marked
    missing (and the stray file added) before the brake noticed."""
    index_once(database, library, probe_pool)
    known = track_count(database)
    away = str(tmp_path / "library-away")
    prober = VanishingProber(str(library), away, trigger="plain.mp3", stray="audio/plain.mp3")
    job = forced_scan_through(prober, database, library, batch_size=4, wait_s=0.5)
    assert (library / "stray.mp3").is_file()  # the replacement stood for the whole scan
    assert job.status == "failed"
    assert job.error is not None
    assert "another folder than when the scan started" in job.error
    assert "nothing was marked missing" in job.error
    assert missing_count(database) == 0
    assert track_count(database) == known  # nothing of the foreign folder was added


def test_files_deleted_mid_scan_are_missing_and_the_counts_add_up(
    database: Database, library: Path, probe_pool: ProbePool
) -> None:
    """The walk counted them; when reached they were gone: processed must still end at total."""
    index_once(database, library, probe_pool)
    doomed = tuple(sorted(p.relative_to(library).as_posix()
                          for p in (library / "video").iterdir())[-3:])  # fmt: skip
    prober = DeletingProber(str(library), trigger="plain.mp3", doomed=doomed)
    job = forced_scan_through(prober, database, library, batch_size=2)
    assert not any((library / relpath).exists() for relpath in doomed)
    assert job.status == "completed", job.error
    p = job.progress
    assert p["missing"] == len(doomed), p
    assert p["processed"] == p["total"] == outcome_sum(p), p
    assert missing_count(database) == len(doomed)
