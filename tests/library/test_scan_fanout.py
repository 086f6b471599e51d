"""Scans fanned out into chunk jobs: exact counters, aggregation, cancel, on both dialects.

The fan-out is on by default with PostgreSQL only; these tests switch it on for SQLite too,
which runs the same code through the same job engine.
"""

from __future__ import annotations

import os
import shutil
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

import pytest
from sqlalchemy import select, text

from mediashelf.db.schema import Job, JobLog, Track
from mediashelf.db.session import Database
from mediashelf.errors import InvalidJobRequest, JobBeingCancelled, JobConflict
from mediashelf.jobs.service import cancel_job, create_job, request_job, retry_job
from mediashelf.library import scan_fanout
from mediashelf.library.ids import derived_id
from mediashelf.library.new_track import NewTrack
from mediashelf.library.scan import LibraryScan
from mediashelf.library.scan_plan import Chunk
from mediashelf.library.store import TrackStore
from mediashelf.probe.pool import ProbePool
from mediashelf.runtime import Runtime
from tests.conftest import make_runtime, scan, wait_for_job
from tests.polling import wait_until

FILES = 22
BROKEN = 4


def _fanning(database: Database, library: Path, pool: ProbePool, **extra: object) -> Runtime:
    return make_runtime(database, library, pool, scan_fanout="on", scan_chunk_size=10, **extra)


def _children(db: Database, parent_id: int) -> list[Job]:
    with db.unit_of_work() as session:
        return list(session.scalars(select(Job).where(Job.parent_id == parent_id)))


def test_a_large_scan_fans_out_and_adds_up_exactly(
    database: Database, library: Path, probe_pool: ProbePool
) -> None:
    for i in range(30):
        shutil.copy(library / "audio/plain.mp3", library / f"audio/copy {i:02d}.mp3")
    files = FILES + 30
    runtime = _fanning(database, library, probe_pool, worker_concurrency=2)
    try:
        job = scan(runtime, batch_size=5)
        children = _children(database, job.id)
        assert job.status == "completed", job.error
        assert len(children) >= 3
        assert all(child.status == "completed" for child in children)
        assert all(child.kind == "library_scan_chunk" for child in children)
        assert all(child.attempt == 1 for child in children)
        assert job.progress["total"] == files
        assert job.progress["processed"] == files
        assert (job.progress["added"], job.progress["failed"]) == (files - BROKEN, BROKEN)
        assert sum(c.progress["added"] + c.progress["failed"] for c in children) == files
        assert job.error_summary is not None
        assert job.error_summary["corrupt"]["count"] == 3
        assert job.summary is not None
        assert f"{files} processed" in job.summary
        assert job.progress["rate"] > 0  # the whole scan's: no chunk runs at the end to add up
        with database.unit_of_work() as session:
            last = session.scalars(
                select(JobLog.message).where(
                    JobLog.job_id == job.id, JobLog.message.contains("phase=done")
                )
            ).all()[-1]
        assert " rate=0.0 " not in last, last
        with database.unit_of_work() as session:
            assert session.scalar(select(Track.id).where(Track.probe_status == "pending")) is None

        os.remove(library / "audio/copy 05.mp3")
        (library / "moved").mkdir()
        os.rename(library / "audio/copy 29.mp3", library / "moved/copy 29.mp3")
        again = scan(runtime, batch_size=5, force=True)
        assert again.status == "completed", again.error
        assert (again.progress["missing"], again.progress["moved"]) == (1, 1)
        assert again.progress["processed"] == files - 1
    finally:
        runtime.close()


def test_cancelling_the_parent_cancels_its_chunks(
    database: Database, library: Path, probe_pool: ProbePool
) -> None:
    runtime = _fanning(database, library, probe_pool, worker_concurrency=1)
    try:
        job_id = _fanned_out(runtime, {"batch_size": 2, "max_probes_per_s": 0.5})
        job = _cancelled(runtime, job_id)
        assert job.status == "cancelled"
        children = [wait_for_job(runtime, c.id, timeout_s=20) for c in _children(database, job_id)]
        assert {c.status for c in children} == {"cancelled"}
        with database.unit_of_work() as session, pytest.raises(JobConflict, match="retry that"):
            retry_job(session, runtime.registry, runtime.clock, children[0].id, actor="test")
        assert wait_for_job(runtime, children[0].id).status == "cancelled"  # untouched
    finally:
        runtime.close()


def test_a_cancelled_parent_ends_after_its_chunks_with_their_final_counters(
    database: Database, library: Path, probe_pool: ProbePool
) -> None:
    """Cancelled while it waited, the parent ended at once and kept its last look-in: 90
    processed against 100-120 tracks written, and chunks "running" that had long ended."""
    runtime = _fanning(database, library, probe_pool, worker_concurrency=2)
    try:
        job_id = _fanned_out(runtime, {"batch_size": 2, "throttle_ms": 100})

        def chunks_under_way() -> bool:
            return any(c.progress.get("processed", 0) for c in _children(database, job_id))

        wait_until(chunks_under_way, "a chunk to write its first batch")
        with database.unit_of_work() as session:
            said = cancel_job(session, runtime.clock, job_id, actor="test")
        assert said.cancel_requested_at is not None
        job = wait_for_job(runtime, job_id, timeout_s=30)
        children = _children(database, job_id)
        assert job.status == "cancelled"
        assert all(c.status in ("cancelled", "completed") for c in children)
        assert job.finished_at is not None
        assert all(c.finished_at is not None and c.finished_at <= job.finished_at
                   for c in children)  # fmt: skip
        assert job.progress["processed"] == sum(c.progress.get("processed", 0) for c in children)
        with database.unit_of_work() as session:
            written = len(session.scalars(select(Track.id)).all())
        assert job.progress["added"] + job.progress["failed"] == written
        assert set(job.progress["chunks"]) <= {"total", "cancelled", "completed"}
        assert job.progress["phase"] == "done"
        assert job.summary is not None
        assert job.summary.startswith(f"Library scan cancelled after {job.progress['processed']}")
    finally:
        runtime.close()


def test_a_cancel_committed_just_before_the_fan_out_enqueues_no_chunks(
    database: Database, library: Path, probe_pool: ProbePool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cancel committed while the parent diffed: the chunks it then enqueued were never
    asked to stop, the whole scan ran, and the parent ended "cancelled" after it."""
    fan_out = scan_fanout.fan_out

    def cancelled_first(scan: LibraryScan, chunks: list[Chunk]) -> NoReturn:
        with database.unit_of_work() as session:
            cancel_job(session, scan.ctx.clock, scan.ctx.job_id, actor="test")
        fan_out(scan, chunks)

    monkeypatch.setattr(scan_fanout, "fan_out", cancelled_first)
    runtime = _fanning(database, library, probe_pool)
    try:
        job = scan(runtime, batch_size=2)
        assert job.status == "cancelled"
        assert (job.summary or "").startswith("Library scan cancelled")
        assert _children(database, job.id) == []
    finally:
        runtime.close()


def test_a_scan_asked_for_while_one_is_being_cancelled_is_refused_not_joined(
    database: Database, library: Path, probe_pool: ProbePool
) -> None:
    """The same request joined the parent winding down and was answered with its
    cancellation; a different one was told to cancel it, which was refused."""
    params: dict[str, object] = {"batch_size": 2, "throttle_ms": 500}
    runtime = _fanning(database, library, probe_pool, worker_concurrency=1)
    try:
        job_id = _fanned_out(runtime, params)
        runtime.close()  # no worker: the parent stays pending with its cancel requested
        with database.unit_of_work() as session:
            said = cancel_job(session, runtime.clock, job_id, actor="test")
        assert (said.status, said.cancel_requested_at is not None) == ("pending", True)
        for asked in (params, {"force": True}):
            with (
                database.unit_of_work() as session,
                pytest.raises(JobBeingCancelled, match=f"job {job_id}.* is being cancelled"),
            ):
                request_job(session, runtime.registry, runtime.clock, "library_scan", asked,
                            trigger="cli", actor="test")  # fmt: skip
    finally:
        runtime.close()


def test_skips_at_chunk_boundaries_are_counted_once(
    database: Database, library: Path, probe_pool: ProbePool
) -> None:
    """A chunk's walk looks past its last file: the skips there were counted twice."""
    for i in range(30):
        shutil.copy(library / "audio/plain.mp3", library / f"audio/copy {i:02d}.mp3")
        os.symlink(library / "nowhere.mp3", library / f"audio/copy {i:02d}~.mp3")  # dangling
    runtime = _fanning(database, library, probe_pool, worker_concurrency=2)
    try:
        job = scan(runtime, batch_size=5)
        assert job.status == "completed", job.error
        assert len(_children(database, job.id)) >= 3
        assert job.progress["skipped"] == 30
        assert job.progress["processed"] == FILES + 60
        # Each chunk's total counts its skips too: its bar read 204/200 and 34/30.
        ends = [(c.progress["processed"], c.progress["total"]) for c in _children(database, job.id)]
        assert all(processed == total for processed, total in ends), ends
        assert job.progress["total"] == FILES + 60
        assert job.error_summary is not None
        assert job.error_summary["dangling_link"]["count"] == 30
    finally:
        runtime.close()


def test_a_cancelled_fanned_out_scan_retries_to_exact_counters(
    database: Database, library: Path, probe_pool: ProbePool
) -> None:
    """The retried parent added up its cancelled chunks with the new ones, and failed."""
    runtime = _fanning(database, library, probe_pool, worker_concurrency=1)
    try:
        job_id = _fanned_out(runtime, {"batch_size": 2, "throttle_ms": 300})
        cancelled = _cancelled(runtime, job_id)
        assert cancelled.status == "cancelled"
        assert cancelled.summary is not None
        assert "kept" in cancelled.summary  # waiting or looking in; never "before it started"
        first_run = {c.id for c in _children(database, job_id)}
        with database.unit_of_work() as session:
            retry_job(session, runtime.registry, runtime.clock, job_id, actor="test")
        job = wait_for_job(runtime, job_id, timeout_s=60)
        assert job.status == "completed", job.error
        assert job.progress["processed"] == job.progress["total"] == FILES
        done = sum(job.progress[k] for k in ("added", "updated", "unchanged", "failed"))
        assert done == FILES  # each file counted once, whichever run wrote it
        assert {c.id for c in _children(database, job_id)} > first_run
    finally:
        runtime.close()


def test_the_brake_counts_what_every_chunk_marks_missing(
    database: Database, library: Path, probe_pool: ProbePool
) -> None:
    """Each chunk braked on its own share: 29 % of the library went missing past a 20 % brake."""
    for i in range(30):
        shutil.copy(library / "audio/plain.mp3", library / f"audio/copy {i:02d}.mp3")
    runtime = _fanning(database, library, probe_pool, worker_concurrency=1)
    try:
        assert scan(runtime).status == "completed"
        for path in library.rglob("*.*"):
            os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
        job_id = _fanned_out(runtime, {"batch_size": 2, "throttle_ms": 200})
        for i in range(0, 30, 2):  # 15 of 52 tracks, spread over every chunk
            os.remove(library / f"audio/copy {i:02d}.mp3")
        job = wait_for_job(runtime, job_id, timeout_s=60)
        assert job.status == "failed", job.summary
        with database.unit_of_work() as session:
            gone = session.scalars(select(Track.id).where(Track.missing_since.is_not(None))).all()
        # The brake held across chunks. Chunks running at once each check before they
        # write, so one batch per concurrent chunk may pass the line: never the 15.
        assert len(gone) < 15
    finally:
        runtime.close()


def test_the_parent_adds_up_its_chunks_while_they_fill_every_slot(
    database: Database, library: Path, probe_pool: ProbePool
) -> None:
    """One slot, chunks queued before the parent's look-in: the parent stood still until the
    last chunk had started; its look-ins now run beside the busy slot."""
    runtime = _fanning(database, library, probe_pool, worker_concurrency=1)
    try:
        job_id = _fanned_out(runtime, {"batch_size": 2, "throttle_ms": 150})

        def counted_while_chunks_wait() -> bool:
            with database.unit_of_work() as session:
                parent = session.get(Job, job_id)
                assert parent is not None
                waiting = [c for c in _children(database, job_id) if c.status == "pending"]
                progress = parent.progress or {}
                return bool(waiting) and progress.get("processed", 0) > 0 and progress["rate"] > 0

        wait_until(counted_while_chunks_wait, "the parent's counters while chunks wait")
        job = wait_for_job(runtime, job_id, timeout_s=60)
        assert job.status == "completed", job.error
        assert job.progress["processed"] == FILES
    finally:
        runtime.close()


def test_an_id_another_chunk_took_meanwhile_falls_back_instead_of_failing(
    database: Database,
) -> None:
    """Two chunks running at once each found `[dupe1234567]` free and inserted it: the second
    batch failed with a unique violation and cost its chunk one of its three attempts."""
    now = datetime.now(UTC)

    def track(relpath: str) -> NewTrack:
        return NewTrack("dupe1234567", relpath, "Song", "mp3", now, now)

    later = track("Music/Song [dupe1234567].mp3")
    with database.unit_of_work() as session:  # the batch found the id free
        store = TrackStore(session)
        assert store.claim_id(later, store.taken_ids([later.video_id])) is None
    with database.unit_of_work() as session:  # another chunk's batch commits it first
        TrackStore(session).insert([track("Favourites/Song [dupe1234567].mp3")])
    with database.unit_of_work() as session:
        notes = TrackStore(session).insert([later])
    assert notes == [f"id dupe1234567 is taken; {later.relpath!r} got id {later.video_id}"]
    with database.unit_of_work() as session:
        rows = session.execute(select(Track.relpath, Track.video_id))
        ids = {row.relpath: row.video_id for row in rows}
    assert ids == {"Favourites/Song [dupe1234567].mp3": "dupe1234567",
                   later.relpath: derived_id(later.relpath)}  # fmt: skip


@pytest.mark.parametrize("db_dialect", ["postgresql"], indirect=True)  # SQLite: one writer
def test_two_chunks_inserting_the_same_ids_in_opposite_orders_do_not_deadlock(
    database: Database,
) -> None:
    """Chunk B inserted `[…y]` then `[…x]` while chunk A held `[…x]` and went on to `[…y]`:
    PostgreSQL broke the deadlock by throwing one batch away (40P01), and the worker logged
    it as "database unreachable"."""
    now = datetime.now(UTC)

    def track(relpath: str, video_id: str) -> NewTrack:
        return NewTrack(video_id, relpath, "Song", "mp3", now, now)

    x, y = "dlockxxxxxx", "dlockyyyyyy"
    outcome: dict[str, object] = {}
    with database.unit_of_work() as chunk_a:
        TrackStore(chunk_a).insert([track(f"A/x [{x}].mp3", x)])  # holds x, uncommitted

        def chunk_b() -> None:
            try:
                with database.unit_of_work() as session:
                    outcome["notes"] = TrackStore(session).insert(
                        [track(f"Z/y [{y}].mp3", y), track(f"Z/x [{x}].mp3", x)]
                    )
            except Exception as exc:  # the assertion below names it
                outcome["error"] = exc

        thread = threading.Thread(target=chunk_b)
        thread.start()

        def b_waits_for_a() -> bool:
            with database.unit_of_work() as session:
                waiting = session.scalar(text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
                ))  # fmt: skip
            return bool(waiting)

        wait_until(b_waits_for_a, "chunk B to wait for chunk A's uncommitted id")
        TrackStore(chunk_a).insert([track(f"A/y [{y}].mp3", y)])
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert "error" not in outcome, outcome
    with database.unit_of_work() as session:
        ids = {
            row.relpath: row.video_id
            for row in session.execute(select(Track.relpath, Track.video_id))
        }
    assert ids == {
        f"A/x [{x}].mp3": x, f"A/y [{y}].mp3": y,
        f"Z/x [{x}].mp3": derived_id(f"Z/x [{x}].mp3"),
        f"Z/y [{y}].mp3": derived_id(f"Z/y [{y}].mp3"),
    }  # fmt: skip
    assert len(outcome["notes"]) == 2  # type: ignore[arg-type]


def test_moves_across_chunk_ranges_leave_no_chunk_counting_below_zero(
    database: Database, library: Path, probe_pool: ProbePool
) -> None:
    """One chunk marked the old path missing, the one that found the new path took the mark
    back: its counters read "missing -1" (the parent's sum was right)."""
    for i in range(30):
        shutil.copy(library / "audio/plain.mp3", library / f"audio/copy {i:02d}.mp3")
    runtime = _fanning(database, library, probe_pool, worker_concurrency=2)
    try:
        assert scan(runtime, batch_size=5).status == "completed"
        (library / "aa").mkdir()
        (library / "zz").mkdir()
        os.rename(library / "audio/copy 00.mp3", library / "zz/copy 00.mp3")
        os.rename(library / "audio/copy 29.mp3", library / "aa/copy 29.mp3")
        os.remove(library / "audio/copy 15.mp3")
        job = scan(runtime, batch_size=5, force=True)
        assert job.status == "completed", job.error
        assert (job.progress["moved"], job.progress["missing"]) == (2, 1)
        children = _children(database, job.id)
        assert len(children) >= 3
        for child in children:
            counts = {k: v for k, v in child.progress.items() if isinstance(v, int)}
            assert min(counts.values()) >= 0, (child.params, counts)
        with database.unit_of_work() as session:
            gone = session.scalars(select(Track.relpath).where(Track.missing_since.is_not(None)))
            assert list(gone) == ["audio/copy 15.mp3"]
    finally:
        runtime.close()


def test_a_folder_renamed_to_a_later_name_fans_out_as_moves(
    database: Database, library: Path, probe_pool: ProbePool
) -> None:
    """The first chunk marked the old paths missing and braked: the parent failed while
    every track was moved in the end."""
    for i in range(30):
        shutil.copy(library / "audio/plain.mp3", library / f"audio/copy {i:02d}.mp3")
    runtime = _fanning(database, library, probe_pool, worker_concurrency=2)
    try:
        assert scan(runtime, batch_size=5).status == "completed"
        (library / "audio").rename(library / "zz audio")
        job = scan(runtime, batch_size=5)
        assert job.status == "completed", job.summary
        assert len(_children(database, job.id)) >= 3
        assert (job.progress["moved"], job.progress["missing"]) == (38, 0)
        with database.unit_of_work() as session:
            assert session.scalar(select(Track.id).where(Track.missing_since.is_not(None))) is None
    finally:
        runtime.close()


def test_a_chunk_is_never_asked_for_on_its_own(
    database: Database, library: Path, probe_pool: ProbePool
) -> None:
    runtime = _fanning(database, library, probe_pool)
    forged: dict[str, object] = {"scan": {}, "after": None, "until": None, "plan": {},
                                 "started_at": "2026-01-01T00:00:00Z", "files": 0}  # fmt: skip
    try:
        with database.unit_of_work() as session, pytest.raises(InvalidJobRequest):
            create_job(session, runtime.registry, runtime.clock, kind="library_scan_chunk",
                       params=forged, trigger="api")  # fmt: skip
        with database.unit_of_work() as session:
            assert session.scalar(select(Job.id)) is None
    finally:
        runtime.close()


def _fanned_out(runtime: Runtime, params: dict[str, object]) -> int:
    """Queue a library scan with `params`, have this runtime's worker run it, return its id
    once it has fanned out."""
    with runtime.db.unit_of_work() as session:
        job_id = create_job(session, runtime.registry, runtime.clock, kind="library_scan",
                            params=params, trigger="cli").id  # fmt: skip
    runtime.start_worker().wake()
    _wait_for_children(runtime.db, job_id)
    return job_id


def _cancelled(runtime: Runtime, job_id: int) -> Job:
    """Cancel the job and return it once it has ended."""
    with runtime.db.unit_of_work() as session:
        cancel_job(session, runtime.clock, job_id, actor="test")
    return wait_for_job(runtime, job_id, timeout_s=20)


def _wait_for_children(db: Database, parent_id: int) -> None:
    wait_until(lambda: bool(_children(db, parent_id)), "the scan to fan out", timeout_s=30)
