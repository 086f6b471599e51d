"""PyAV and ffprobe agree field for field on every probeable corpus file (DESIGN §3)."""

from __future__ import annotations

import pytest

from mediashelf.probe.ffprobe_backend import FfprobeProber
from mediashelf.probe.pyav_backend import PyAVProber
from mediashelf.probe.result import ProbeResult
from tests.conftest import Corpus
from tests.media.generate import _CLIPS, CorpusFile

# The static clip list of the generator, plus the sparse file generate_corpus() adds.
PROBED_RELPATHS = [relpath for relpath, _kind, _spec in _CLIPS] + ["big/huge.mkv"]

EXACT_FIELDS = (
    "container",
    "video_codec",
    "audio_codec",
    "width",
    "height",
    "resolution",
    "video_fps",
    "audio_channels",
    "audio_channel_layout",
    "audio_sample_rate",
    "audio_bit_depth",
    "has_video",
    "has_audio",
    "size_bytes",
)
# Manifest key -> ProbeResult attribute, for the facts the generator knows exactly.
MANIFEST_FIELDS = {
    "format_name": "container",
    "video_codec": "video_codec",
    "audio_codec": "audio_codec",
    "width": "width",
    "height": "height",
    "audio_channels": "audio_channels",
    "audio_channel_layout": "audio_channel_layout",
    "audio_sample_rate": "audio_sample_rate",
    "audio_bit_depth": "audio_bit_depth",
    "has_video": "has_video",
}
DURATION_TOLERANCE = 0.03
BITRATE_TOLERANCE = 0.05
MP3_FRAME_SAMPLES = 1152


def _entry(corpus: Corpus, relpath: str) -> CorpusFile:
    return next(f for f in corpus.files if f.relpath == relpath)


def _within(a: float | None, b: float | None, tolerance: float) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= tolerance * max(abs(a), abs(b))


def _mp3_delay_bound(result: ProbeResult) -> float:
    """Return two MP3 frames in seconds: more than LAME's encoder delay plus padding."""
    return 2 * MP3_FRAME_SAMPLES / (result.audio_sample_rate or 44100)


def _durations_agree(pyav: ProbeResult, ff: ProbeResult) -> bool:
    if _within(pyav.duration, ff.duration, DURATION_TOLERANCE):
        return True
    # MP3 only: FFmpeg 5.1's ffprobe counts the encoder delay and padding, the newer libav in
    # PyAV's wheels trims them (DESIGN §3). That is a fixed ~45 ms, which is more than 3 % of the
    # corpus' 1-second clips, so it is bounded in absolute terms (two MP3 frames) instead.
    if pyav.container == "mp3" and pyav.duration is not None and ff.duration is not None:
        return abs(pyav.duration - ff.duration) <= _mp3_delay_bound(pyav)
    return False


def _mismatches(pyav: ProbeResult, ff: ProbeResult, entry: CorpusFile) -> list[str]:
    problems = [
        f"{name}: pyav={getattr(pyav, name)!r} ffprobe={getattr(ff, name)!r}"
        for name in EXACT_FIELDS
        if getattr(pyav, name) != getattr(ff, name)
    ]
    if not _durations_agree(pyav, ff):
        problems.append(f"duration: pyav={pyav.duration!r} ffprobe={ff.duration!r}")
    if not _within(pyav.bitrate, ff.bitrate, BITRATE_TOLERANCE):
        problems.append(f"bitrate: pyav={pyav.bitrate!r} ffprobe={ff.bitrate!r} (±5 %)")
    for backend, result in (("pyav", pyav), ("ffprobe", ff)):
        for key, attribute in MANIFEST_FIELDS.items():
            if getattr(result, attribute) != entry.expect[key]:
                problems.append(
                    f"{backend} {attribute}={getattr(result, attribute)!r}"
                    f" but the manifest says {key}={entry.expect[key]!r}"
                )
        if result.has_audio != (entry.expect["audio_codec"] is not None):
            problems.append(f"{backend} has_audio={result.has_audio!r} disagrees with manifest")
        if "size_bytes" in entry.expect and result.size_bytes != entry.expect["size_bytes"]:
            problems.append(f"{backend} size_bytes={result.size_bytes!r} != manifest")
    return problems


def test_parametrized_list_covers_every_probeable_corpus_file(corpus: Corpus) -> None:
    expected = {f.relpath for f in corpus.of_kind("video", "audio", "big")}
    assert sorted(PROBED_RELPATHS) == sorted(expected)


@pytest.mark.usefixtures("require_ffprobe")
@pytest.mark.parametrize("relpath", PROBED_RELPATHS)
def test_pyav_and_ffprobe_agree_with_each_other_and_the_manifest(
    corpus: Corpus, relpath: str
) -> None:
    path = corpus.root / relpath
    pyav = PyAVProber().probe(path)
    ff = FfprobeProber().probe(path)

    problems = _mismatches(pyav, ff, _entry(corpus, relpath))

    assert not problems, f"{relpath}:\n  " + "\n  ".join(problems)
    assert pyav.prober.startswith("pyav ")
    assert ff.prober.startswith("ffprobe ")


@pytest.mark.usefixtures("require_ffprobe")
def test_mp3_encoder_delay_is_the_only_duration_difference(corpus: Corpus) -> None:
    path = corpus.root / "audio/plain.mp3"
    pyav = PyAVProber().probe(path)
    ff = FfprobeProber().probe(path)
    assert pyav.duration is not None
    assert ff.duration is not None
    assert pyav.bitrate is not None
    assert ff.bitrate is not None

    # ffprobe 5.1 includes the LAME encoder delay/padding; PyAV's newer libav trims it, so PyAV
    # reports the written length and ffprobe a little more - never more than two MP3 frames.
    assert pyav.duration == pytest.approx(1.0, rel=DURATION_TOLERANCE)
    assert ff.duration >= pyav.duration
    assert ff.duration - pyav.duration <= _mp3_delay_bound(pyav)
    # The overall bitrate of an MP3 is size * 8 / duration, so it moves with the duration and
    # stays inside the ±5 % bitrate tolerance.
    assert _within(pyav.bitrate, ff.bitrate, BITRATE_TOLERANCE)
    assert pyav.audio_bitrate == ff.audio_bitrate == 128000
