"""Per-track rescans hold no database connection while they probe, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import select

from mediashelf.clock import SystemClock
from mediashelf.db.schema import Track
from mediashelf.db.session import Database
from mediashelf.errors import ProbeError
from mediashelf.library.rescan import RescanOptions, rescan_track
from mediashelf.probe.pool import ProbePool
from mediashelf.probe.result import ProbeResult
from tests.conftest import make_runtime, scan
from tests.web.conftest import index_library

CONCURRENT = 30  # twice what the connection pool allows (5 + 10 overflow)


@dataclass
class GatedRunner:
    """Probes through the real pool, but only once every rescan is probing at the same time.

    Were a connection held while probing, only 15 rescans could reach the gate (the pool's
    limit); the gate would break after its timeout, well before the pool's own 30 s.
    """

    pool: ProbePool
    gate: threading.Barrier = field(default_factory=lambda: threading.Barrier(CONCURRENT))

    def probe(self, path: Path) -> ProbeResult:
        """Wait for every other rescan to be probing too, then probe."""
        self.gate.wait(timeout=20)
        return self.pool.probe(path)


def test_concurrent_rescans_never_hold_a_connection_while_probing(
    database: Database, library: Path, probe_pool: ProbePool
) -> None:
    index_library(database, library, probe_pool)
    with database.unit_of_work() as session:
        video_id = session.scalar(
            select(Track.video_id).where(Track.relpath == "video/h264_aac.mp4")
        )
    assert video_id is not None
    runner = GatedRunner(probe_pool)

    def rescan(_: int) -> list[str]:
        outcome = rescan_track(
            database, root=library, runner=runner, clock=SystemClock(), video_id=video_id,
            options=RescanOptions(), actor="test",
        )  # fmt: skip
        return sorted(outcome.changes)

    with ThreadPoolExecutor(CONCURRENT) as threads:
        outcomes = list(threads.map(rescan, range(CONCURRENT)))

    assert outcomes == [[]] * CONCURRENT  # all 30 passed the gate together, then wrote
    assert database.engine.pool.checkedout() == 0  # type: ignore[attr-defined]


def test_a_size_a_rescan_kept_is_corrected_by_the_next_scan(
    database: Database, library: Path, probe_pool: ProbePool
) -> None:
    """A rescan without refresh_size keeps the stored size while its fingerprint follows the
    file; every later scan then called the file unchanged and the old size stood for good."""
    runtime = make_runtime(database, library, probe_pool)
    try:
        assert scan(runtime).status == "completed"
        path = library / "audio/plain.mp3"
        with database.unit_of_work() as session:
            track = session.scalar(select(Track).where(Track.relpath == "audio/plain.mp3"))
            assert track is not None
            video_id, old_size = track.video_id, track.size_bytes
        with path.open("ab") as grown:
            grown.write(bytes(5000))
        rescan_track(database, root=library, runner=probe_pool, clock=SystemClock(),
                     video_id=video_id, options=RescanOptions(), actor="test")  # fmt: skip
        assert _size(database, "audio/plain.mp3") == old_size  # kept, as asked
        job = scan(runtime)
        assert job.progress["updated"] == 1
        assert _size(database, "audio/plain.mp3") == path.stat().st_size
        assert scan(runtime).progress["updated"] == 0
        assert scan(runtime, refresh_size=False).progress["updated"] == 0
    finally:
        runtime.close()


def test_a_file_cut_short_shows_its_new_size_though_it_no_longer_reads(
    database: Database, library: Path, probe_pool: ProbePool
) -> None:
    """A changed file that fails to probe lost its probe facts, but kept the old file's size
    beside the new fingerprint, for good (later scans call it unchanged): a download cut to
    1000 bytes showed the whole film's size, by scans and rescans alike."""
    runtime = make_runtime(database, library, probe_pool)
    try:
        assert scan(runtime).status == "completed"
        film, song = library / "video/h264_aac.mp4", library / "audio/plain.mp3"
        film.write_bytes(film.read_bytes()[:1000])
        assert scan(runtime).progress["failed"] == 1
        assert _size(database, "video/h264_aac.mp4") == 1000
        with database.unit_of_work() as session:
            video_id = session.scalar(select(Track.video_id).where(Track.relpath ==
                                                                   "audio/plain.mp3"))  # fmt: skip
        assert video_id is not None
        song.write_bytes(b"\x01" * 700)  # overwritten by something that is not audio
        with pytest.raises(ProbeError):
            rescan_track(database, root=library, runner=probe_pool, clock=SystemClock(),
                         video_id=video_id, options=RescanOptions(), actor="test")  # fmt: skip
        assert _size(database, "audio/plain.mp3") == 700
    finally:
        runtime.close()


def _size(database: Database, relpath: str) -> int | None:
    with database.unit_of_work() as session:
        return session.scalar(select(Track.size_bytes).where(Track.relpath == relpath))
