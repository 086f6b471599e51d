"""First indexing of a library, on SQLite and PostgreSQL, through the real isolated pool."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from mediashelf.clock import SystemClock
from mediashelf.db.schema import Track
from mediashelf.db.session import Database
from mediashelf.library.sync import SyncReport, discover_new, probe_pending, sync_library
from mediashelf.probe.pool import ProbePool
from tests.conftest import Corpus

BROKEN_CLASSES = {
    "broken/empty.mp3": "empty",
    "broken/truncated.mp4": "corrupt",
    "broken/random.mp4": "corrupt",
    "broken/notes.mkv": "corrupt",
}
# Manifest key -> track column, for the facts the generator knows exactly.
FACTS = {
    "format_name": "container",
    "video_codec": "video_codec",
    "audio_codec": "audio_codec",
    "width": "width",
    "height": "height",
    "audio_channels": "audio_channels",
    "audio_channel_layout": "audio_channel_layout",
    "audio_sample_rate": "audio_sample_rate",
    "audio_bit_depth": "audio_bit_depth",
}


def _tracks(database: Database) -> dict[str, Track]:
    with database.unit_of_work() as session:
        return {t.relpath: t for t in session.scalars(select(Track))}


def test_sync_indexes_and_probes_the_library(
    database: Database, library: Path, probe_pool: ProbePool, corpus: Corpus
) -> None:
    media = corpus.of_kind("video", "audio", "broken")
    good = corpus.of_kind("video", "audio")

    report = sync_library(database, library, probe_pool, SystemClock())

    assert report == SyncReport(added=len(media), probed=len(good), failed=len(BROKEN_CLASSES))
    tracks = _tracks(database)
    assert sorted(tracks) == sorted(f.relpath for f in media)
    problems: list[str] = []
    for entry in good:
        track = tracks[entry.relpath]
        if track.probe_status != "ok" or track.probe_error_class is not None:
            problems.append(f"{entry.relpath}: {track.probe_status} {track.probe_error}")
        for key, column in FACTS.items():
            if getattr(track, column) != entry.expect[key]:
                problems.append(f"{entry.relpath}: {column}={getattr(track, column)!r}")
        has_video = entry.expect["has_video"]
        expected_resolution = f"{entry.expect['width']}x{entry.expect['height']}"
        if track.resolution != (expected_resolution if has_video else None):
            problems.append(f"{entry.relpath}: resolution={track.resolution!r}")
        size = (library / entry.relpath).stat().st_size
        if (track.size_bytes, track.fingerprint_size) != (size, size):
            problems.append(f"{entry.relpath}: size {track.size_bytes} / {track.fingerprint_size}")
        if not track.duration or track.probed_at is None or track.probe_failures != 0:
            problems.append(f"{entry.relpath}: probe record {track.duration} {track.probed_at}")
    assert not problems, "\n".join(problems)


def test_sync_records_broken_files_as_errors(
    database: Database, library: Path, probe_pool: ProbePool
) -> None:
    sync_library(database, library, probe_pool, SystemClock())

    tracks = _tracks(database)
    for relpath, error_class in BROKEN_CLASSES.items():
        track = tracks[relpath]
        assert (track.probe_status, track.probe_error_class) == ("error", error_class), relpath
        assert track.probe_error
        assert str(library) not in track.probe_error
        assert track.probe_failures == 1
        assert track.video_codec is None
        assert track.audio_codec is None
        assert track.fingerprint_size == (library / relpath).stat().st_size


def test_sync_keeps_ids_and_titles_from_names(
    database: Database, library: Path, probe_pool: ProbePool
) -> None:
    sync_library(database, library, probe_pool, SystemClock())

    clip = _tracks(database)["Videos/My Clip [dQw4w9WgXcQ].mp4"]
    assert (clip.video_id, clip.title, clip.filetype) == ("dQw4w9WgXcQ", "My Clip", "mp4")
    ids = [t.video_id for t in _tracks(database).values()]
    assert len(ids) == len(set(ids))


def test_second_sync_adds_nothing(database: Database, library: Path, probe_pool: ProbePool) -> None:
    sync_library(database, library, probe_pool, SystemClock())
    first = {r: (t.id, t.probe_status, t.probed_at) for r, t in _tracks(database).items()}

    report = sync_library(database, library, probe_pool, SystemClock())

    assert report == SyncReport(added=0, probed=0, failed=0)
    second = {r: (t.id, t.probe_status, t.probed_at) for r, t in _tracks(database).items()}
    assert second == first


def test_second_sync_adds_a_new_file(
    database: Database, library: Path, probe_pool: ProbePool
) -> None:
    sync_library(database, library, probe_pool, SystemClock())
    (library / "audio/plain.mp3").rename(library / "audio/renamed copy.mp3")
    (library / "fresh.flac").write_bytes((library / "audio/flac16_stereo.flac").read_bytes())

    report = sync_library(database, library, probe_pool, SystemClock())

    assert (report.added, report.probed, report.failed) == (2, 2, 0)
    tracks = _tracks(database)
    assert tracks["fresh.flac"].probe_status == "ok"
    assert tracks["fresh.flac"].audio_codec == "flac"
    assert tracks["audio/renamed copy.mp3"].audio_codec == "mp3"


def test_file_deleted_before_probing_ends_missing(
    database: Database, library: Path, probe_pool: ProbePool
) -> None:
    clock = SystemClock()
    added = discover_new(database, library, clock)
    (library / "audio/plain.mp3").unlink()

    ok, failed = probe_pending(database, library, probe_pool, clock)

    assert ok + failed == added
    track = _tracks(database)["audio/plain.mp3"]
    assert track.probe_status == "missing"
    assert track.missing_since is not None
    assert track.audio_codec is None
    assert track.probe_error_class is None
    assert _tracks(database)["audio/cover.mp3"].probe_status == "ok"
