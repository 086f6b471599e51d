"""Probing ahead while `mediashelf scan` starts: only where the scan will probe those files,
and what was probed ahead is taken once, never for a file that changed since."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from mediashelf.config import Settings
from mediashelf.db.migrate import upgrade
from mediashelf.db.session import Database
from mediashelf.library.scan_ahead import probe_ahead
from mediashelf.library.store import TrackQuery
from mediashelf.library.tracks import list_tracks
from mediashelf.probe.pool import ProbePool
from tests.conftest import make_runtime, scan
from tests.polling import wait_until
from tests.probe.fake_probers import RecordingProber


@pytest.fixture
def recording_pool(tmp_path: Path) -> Iterator[tuple[ProbePool, Path]]:
    """A pool that logs every probe, and its log."""
    log = tmp_path / "probed.log"
    with ProbePool(RecordingProber(log), processes=2, timeout_s=20) as pool:
        yield pool, log


def _settings(library: Path, database: Path) -> Settings:
    return Settings(library=library, database_url=f"sqlite:///{database}")


def _probed(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def _media(library: Path) -> list[Path]:
    return sorted(p for p in library.rglob("*") if p.is_file() and not p.name.startswith("."))


@pytest.mark.parametrize(
    "params",
    [{"dry_run": True}, {"throttle_ms": 10}, {"max_probes_per_s": 5.0}],
    ids=["dry-run", "throttled", "paced"],
)
def test_no_probing_ahead_for_runs_that_probe_otherwise(
    params: dict[str, object], library: Path, tmp_path: Path,
    recording_pool: tuple[ProbePool, Path],
) -> None:  # fmt: skip
    pool, _ = recording_pool
    assert not probe_ahead(pool, _settings(library, tmp_path / "new.db"), params)


def test_no_probing_ahead_once_the_library_has_tracks_unless_forced(
    library: Path, tmp_path: Path, recording_pool: tuple[ProbePool, Path]
) -> None:
    pool, _ = recording_pool
    settings = _settings(library, tmp_path / "db.sqlite")
    with Database(settings.effective_database_url) as db:
        upgrade(db)
        assert probe_ahead(pool, settings, {"dry_run": True}) is False
        assert probe_ahead(pool, settings, {}) is True  # migrated, still no track
        scan(make_runtime(db, library, pool))
    assert probe_ahead(pool, settings, {}) is False
    assert probe_ahead(pool, settings, {"force": True}) is True


def test_no_probing_ahead_on_postgresql(
    library: Path, recording_pool: tuple[ProbePool, Path]
) -> None:
    pool, _ = recording_pool
    settings = Settings(library=library, database_url="postgresql://nobody@127.0.0.1:1/none")
    assert probe_ahead(pool, settings, {}) is False


def test_a_first_scan_takes_what_was_probed_ahead_once_and_reprobes_a_changed_file(
    library: Path, tmp_path: Path, recording_pool: tuple[ProbePool, Path]
) -> None:
    pool, log = recording_pool
    settings = _settings(library, tmp_path / "first.db")
    files = [p for p in _media(library) if "junk" not in p.parts]
    changed = next(p for p in files if p.suffix == ".flac")
    assert probe_ahead(pool, settings, {}) is True
    wait_until(lambda: str(changed) in _probed(log), "the file's probe ahead")
    before = changed.stat()
    with changed.open("ab") as grow:  # changed after its probe ahead: size and mtime differ
        grow.write(b"\0" * 4096)
    os.utime(changed, ns=(before.st_atime_ns, before.st_mtime_ns + 10**9))
    with Database(settings.effective_database_url) as db:
        upgrade(db)
        job = scan(make_runtime(db, library, pool))
        with db.unit_of_work() as session:
            tracks = list_tracks(session, TrackQuery(per_page=500)).items
    assert job.status == "completed", job.error
    probed = _probed(log)
    assert probed.count(str(changed)) == 2  # ahead, then again for its new content
    repeated = {p for p in probed if probed.count(p) > 1}
    assert repeated == {str(changed)}  # every other file probed once
    stored = next(t for t in tracks if t.relpath == str(changed.relative_to(library)))
    assert stored.size_bytes == changed.stat().st_size
