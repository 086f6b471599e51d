"""The isolated probe pool: hangs are killed, crashes contained, errors classified, order kept."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mediashelf.errors import (
    PROBE_ERRORS,
    ProbeCorrupt,
    ProbeCrashed,
    ProbeError,
    ProbeMissing,
    ProbeTimeout,
)
from mediashelf.probe.pool import ProbePool
from mediashelf.probe.result import ProbeResult
from tests.conftest import Corpus
from tests.probe.fake_probers import CrashingProber, ErrorProber, HangingProber

GOOD_VIDEO = "video/h264_aac.mp4"
GOOD_AUDIO = "audio/flac16_stereo.flac"


@pytest.fixture(scope="module")
def hanging_pool() -> Iterator[ProbePool]:
    """One worker, one-second timeout."""
    with ProbePool(HangingProber(), processes=1, timeout_s=1) as pool:
        yield pool


@pytest.fixture(scope="module")
def crashing_pool() -> Iterator[ProbePool]:
    """Two workers that segfault on "crash" files."""
    with ProbePool(CrashingProber(), processes=2, timeout_s=20) as pool:
        yield pool


@pytest.fixture(scope="module")
def error_pool() -> Iterator[ProbePool]:
    """One worker that always fails."""
    with ProbePool(ErrorProber(), processes=1, timeout_s=20) as pool:
        yield pool


def test_hang_is_killed_at_the_timeout_and_the_pool_keeps_working(
    hanging_pool: ProbePool, corpus: Corpus, tmp_path: Path
) -> None:
    hang = tmp_path / "hang.mp4"
    hang.write_bytes(b"never read")
    with pytest.raises(ProbeTimeout) as caught:
        hanging_pool.probe(hang)
    assert caught.value.error_class == "timeout"
    assert "1s" in caught.value.message

    result = hanging_pool.probe(corpus.root / GOOD_VIDEO)
    assert result.video_codec == "h264"
    assert result.resolution == "160x120"


def test_crash_becomes_probe_crashed_and_the_next_file_probes(
    crashing_pool: ProbePool, corpus: Corpus, tmp_path: Path
) -> None:
    with pytest.raises(ProbeCrashed) as caught:
        crashing_pool.probe(tmp_path / "crash.mp4")
    assert caught.value.error_class == "crashed"

    result = crashing_pool.probe(corpus.root / GOOD_AUDIO)
    assert result.audio_codec == "flac"
    assert result.audio_bit_depth == 16


@pytest.mark.parametrize("error_class", sorted(PROBE_ERRORS))
def test_errors_come_back_as_their_subclass_with_their_message(
    error_pool: ProbePool, tmp_path: Path, error_class: str
) -> None:
    path = tmp_path / f"{error_class}.mp4"
    with pytest.raises(ProbeError) as caught:
        error_pool.probe(path)
    assert type(caught.value) is PROBE_ERRORS[error_class]
    assert caught.value.error_class == error_class
    assert caught.value.message == ErrorProber.message_for(path)


def test_unknown_error_class_is_probe_corrupt(error_pool: ProbePool, tmp_path: Path) -> None:
    path = tmp_path / "whatever.mp4"
    with pytest.raises(ProbeCorrupt) as caught:
        error_pool.probe(path)
    assert caught.value.message == "scripted whatever failure"


def test_probe_many_yields_in_input_order_with_mixed_outcomes(
    crashing_pool: ProbePool, corpus: Corpus, tmp_path: Path
) -> None:
    paths = [
        corpus.root / GOOD_VIDEO,
        tmp_path / "crash.mkv",
        corpus.root / "broken/notes.mkv",
        tmp_path / "missing.mp3",
        corpus.root / GOOD_AUDIO,
        corpus.root / "broken/empty.mp3",
        corpus.root / "audio/plain.mp3",
    ]

    outcomes = list(crashing_pool.probe_many(paths, window=2))

    assert [path for path, _ in outcomes] == paths
    kinds = [o.audio_codec if isinstance(o, ProbeResult) else o.error_class for _, o in outcomes]
    assert kinds == ["aac", "crashed", "corrupt", "missing", "flac", "empty", "mp3"]
    assert isinstance(outcomes[3][1], ProbeMissing)


def test_probe_many_of_nothing_yields_nothing(crashing_pool: ProbePool) -> None:
    assert list(crashing_pool.probe_many([])) == []
