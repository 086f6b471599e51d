"""The fast path (DESIGN §3): same facts as libav's full analysis, cover art left unread."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import av
import pytest

from mediashelf.demo_library import ClipSpec, write_clip
from mediashelf.errors import ProbeError
from mediashelf.probe.analysis import has_signature
from mediashelf.probe.fast_path import probe_fast
from mediashelf.probe.ffprobe_backend import FfprobeProber
from mediashelf.probe.pyav_backend import PyAVProber
from mediashelf.probe.result import ProbeResult
from tests.conftest import Corpus
from tests.media.covers import (
    COVER_FORMATS,
    COVER_SIDE,
    cover_jpeg,
    remux_to_matroska,
    write_covered_audio,
    write_matroska_film,
    write_motion_jpeg_with_sound,
)
from tests.media.generate import _CLIPS, FORMAT_CLIPS, JUNK, RULE_FILES

MAX_BYTES_WITH_COVER = 128 * 1024
COVER_FILES = {kind: f"covered/{kind.replace('.', '-')}.{kind.rsplit('.', 1)[-1]}"
               for kind in COVER_FORMATS}  # fmt: skip
COVER_FILES["flac24"] = "covered/flac24.flac"


@pytest.fixture(scope="module")
def covered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Write one file per cover format, each with the same ~430 KB JPEG attached."""
    root = tmp_path_factory.mktemp("covered")
    cover = cover_jpeg(seed=1)
    assert len(cover) > 400_000
    for kind, relpath in COVER_FILES.items():
        write_covered_audio(root / relpath, kind, cover)
    return root


def _outcome(path: Path, fast: bool) -> ProbeResult | str:
    try:
        return PyAVProber(fast=fast).probe(path)
    except ProbeError as exc:
        return exc.error_class


@pytest.mark.parametrize("kind", sorted(COVER_FILES))
def test_cover_art_is_not_read(covered: Path, kind: str) -> None:
    path = covered / COVER_FILES[kind]
    prober = PyAVProber()
    outcome = probe_fast(path, path.stat().st_size, prober.version)
    assert outcome.result is not None, outcome.reason
    assert outcome.demuxer is not None  # the hint was used, not detection
    assert outcome.bytes_read <= MAX_BYTES_WITH_COVER
    assert outcome.result == PyAVProber(fast=False).probe(path)
    assert prober.probe(path) == outcome.result


@pytest.mark.parametrize(("ext", "fmt"), [("wav", "wav"), ("w64", "w64"), ("aiff", "aiff")])
def test_pcm_payload_is_not_read(tmp_path: Path, ext: str, fmt: str) -> None:
    """Every fact of an uncompressed file is in its header: 20 s of PCM (3.4 MB) stay unread."""
    path = tmp_path / f"take.{ext}"
    codec = "pcm_s16be" if fmt == "aiff" else "pcm_s16le"
    write_clip(path, ClipSpec(fmt, None, codec, duration_s=20.0, amplitude=0))
    prober = PyAVProber()
    outcome = probe_fast(path, path.stat().st_size, prober.version)
    assert outcome.result is not None, outcome.reason
    assert outcome.bytes_read <= MAX_BYTES_WITH_COVER
    assert outcome.result == PyAVProber(fast=False).probe(path)


def test_a_dv_tape_is_read_by_its_first_frames(tmp_path: Path) -> None:
    """A camcorder's raw DV: 3.6 MB a second, every fact in any frame; libav read 4.6 MB."""
    path = tmp_path / "tape.dv"
    write_clip(path, ClipSpec("dv", "dvvideo", "pcm_s16le", width=720, height=576,
                              duration_s=2.0, sample_rate=48000, amplitude=0))  # fmt: skip
    prober = PyAVProber()
    outcome = probe_fast(path, path.stat().st_size, prober.version)
    assert outcome.result is not None, outcome.reason
    assert outcome.demuxer == "dv"
    assert outcome.bytes_read <= 320 * 1024
    assert outcome.result == PyAVProber(fast=False).probe(path)
    assert (outcome.result.width, outcome.result.height) == (720, 576)
    # NTSC's header block differs in the DSF bit only
    assert has_signature("dv", bytes.fromhex("1f07003f") + bytes(8))


@pytest.mark.parametrize("muxer", ["mp4", "mov"])
def test_mpeg4_part2_in_mp4_is_sized_by_its_first_frames(tmp_path: Path, muxer: str) -> None:
    """DivX-era MPEG-4 video in MP4/MOV: its picture size needs its decoder to read a frame."""
    path = tmp_path / f"clip.{muxer}"
    write_clip(path, ClipSpec(muxer, "mpeg4", "aac", width=320, height=240, duration_s=8.0,
                              amplitude=0))  # fmt: skip
    prober = PyAVProber()
    outcome = probe_fast(path, path.stat().st_size, prober.version)
    assert outcome.result is not None, outcome.reason
    assert outcome.bytes_read <= MAX_BYTES_WITH_COVER
    assert outcome.result == PyAVProber(fast=False).probe(path)
    assert (outcome.result.width, outcome.result.height) == (320, 240)


def test_matroska_attachments_are_not_read(tmp_path: Path) -> None:
    # Styled subtitles carry their fonts (megabytes) and often a cover: libav reads both
    # whole, and the cover, without an image decoder, kept the analysis reading to 5 MB.
    path = tmp_path / "anime.mkv"
    font = random.Random(9).randbytes(1_500_000)
    cover = cover_jpeg(seed=6)
    attachments = {"font.ttf": ("font/ttf", font), "cover.jpg": ("image/jpeg", cover)}
    write_matroska_film(path, attachments)
    prober = PyAVProber()
    outcome = probe_fast(path, path.stat().st_size, prober.version)
    assert outcome.result is not None, outcome.reason
    assert outcome.bytes_read <= MAX_BYTES_WITH_COVER
    assert outcome.result == PyAVProber(fast=False).probe(path)
    assert (outcome.result.video_codec, outcome.result.width) == ("mpeg4", 320)


def test_a_cover_remuxed_as_a_video_track_is_not_the_video(tmp_path: Path) -> None:
    path = tmp_path / "remuxed.mkv"
    write_matroska_film(path, {}, cover_track=cover_jpeg(seed=7))  # 580x580, larger
    for prober in (PyAVProber(), PyAVProber(fast=False), FfprobeProber()):
        result = prober.probe(path)
        assert (result.video_codec, result.width, result.height) == ("mpeg4", 320, 240)
        assert result.video_fps == 24


def test_a_cover_remuxed_beside_the_sound_is_not_video(tmp_path: Path) -> None:
    song, path = tmp_path / "song.mp3", tmp_path / "remuxed.mka"
    write_covered_audio(song, "mp3", cover_jpeg(seed=8), seconds=2.0)
    remux_to_matroska(song, path)
    for prober in (PyAVProber(), PyAVProber(fast=False), FfprobeProber()):
        result = prober.probe(path)
        assert (result.has_video, result.video_codec, result.video_fps) == (False, None, None)
        assert (result.audio_codec, result.audio_channels) == ("mp3", 2)


def test_a_cover_track_with_a_frame_rate_beside_the_sound_is_not_video(tmp_path: Path) -> None:
    path = tmp_path / "song.mka"
    write_motion_jpeg_with_sound(path, cover_jpeg(seed=10), frames=1, seconds=3.0)
    with av.open(str(path)) as container:  # the case: libav states a rate, and no frame count
        (picture,) = container.streams.video
        assert picture.average_rate == 24
        assert not picture.frames
    for prober in (PyAVProber(), PyAVProber(fast=False), FfprobeProber()):
        result = prober.probe(path)
        assert (result.has_video, result.video_codec, result.width) == (False, None, None)
        assert (result.audio_codec, result.has_audio) == ("mp3", True)


def test_a_motion_jpeg_film_with_sound_stays_video(tmp_path: Path) -> None:
    path = tmp_path / "camera.mkv"
    write_motion_jpeg_with_sound(path, cover_jpeg(seed=9))
    for prober in (PyAVProber(), PyAVProber(fast=False), FfprobeProber()):
        result = prober.probe(path)
        assert (result.video_codec, result.width, result.video_fps) == ("mjpeg", COVER_SIDE, 24)
        assert result.audio_codec == "mp3"


@pytest.mark.parametrize(
    ("source", "renamed"),
    [("video/h264_aac.mp4", "h264_aac.mkv"), ("audio/plain.mp3", "plain.flac"),
     ("audio/flac16_stereo.flac", "flac16.mp3"), ("video/vp9_opus.webm", "vp9.mp4"),
     ("audio/opus.opus", "opus.wav"), ("audio/aac.m4a", "aac.ogg")],
)  # fmt: skip
def test_a_wrong_extension_still_probes_correctly(
    corpus: Corpus, tmp_path: Path, source: str, renamed: str
) -> None:
    path = tmp_path / renamed
    shutil.copyfile(corpus.root / source, path)
    expected = PyAVProber(fast=False).probe(corpus.root / source)

    outcome = probe_fast(path, path.stat().st_size, expected.prober)

    assert outcome.result is not None, outcome.reason
    assert outcome.demuxer is None  # the signature check sent it to detection
    assert outcome.result == expected
    assert PyAVProber().probe(path) == expected


@pytest.mark.parametrize("relpath", sorted(JUNK))
def test_junk_stays_junk(truth_corpus: Corpus, relpath: str) -> None:
    path = truth_corpus.root / relpath
    assert probe_fast(path, path.stat().st_size, "pyav").result is None
    with pytest.raises(ProbeError) as caught:
        PyAVProber().probe(path)
    assert caught.value.error_class == JUNK[relpath]


SAME_FACTS = [f"corpus:{relpath}" for relpath, _kind, _spec in _CLIPS] + [
    "corpus:big/huge.mkv", "corpus:broken/truncated.mp4", "corpus:broken/random.mp4",
    "corpus:broken/notes.mkv",
    *(f"truth:formats/sample.{ext}" for ext in sorted(FORMAT_CLIPS)),
    *(f"truth:{relpath}" for relpath in sorted(RULE_FILES)),
]  # fmt: skip


@pytest.mark.parametrize("name", SAME_FACTS)
def test_fast_path_stores_exactly_what_the_full_analysis_stores(
    corpus: Corpus, truth_corpus: Corpus, name: str
) -> None:
    which, relpath = name.split(":", 1)
    path = (corpus if which == "corpus" else truth_corpus).root / relpath
    fast, full = _outcome(path, fast=True), _outcome(path, fast=False)
    if isinstance(full, ProbeResult) and isinstance(fast, ProbeResult):
        assert fast.media_fields() == full.media_fields()
        assert (fast.has_video, fast.has_audio) == (full.has_video, full.has_audio)
    else:
        assert fast == full


def test_a_sparse_file_is_not_read_through(corpus: Corpus) -> None:
    path = corpus.root / "big/huge.mkv"
    outcome = probe_fast(path, path.stat().st_size, "pyav")
    assert outcome.result is not None
    assert outcome.bytes_read <= MAX_BYTES_WITH_COVER


def test_a_dv_tape_whose_sound_starts_later_is_analysed_in_full(tmp_path: Path) -> None:
    """No audio pack in the first frames: the fast analysis sees no sound, the full one does."""
    tape = tmp_path / "tape.dv"
    write_clip(tape, ClipSpec("dv", "dvvideo", "pcm_s16le", width=720, height=576,
                              duration_s=2.0, sample_rate=48000, amplitude=0))  # fmt: skip
    data, frame = bytearray(tape.read_bytes()), 144_000
    for block in range(0, 3 * frame, 80):  # DIF blocks of the first three frames
        if data[block] >> 5 == 3 and data[block + 3] in (0x50, 0x51):  # AAUX source packs
            data[block + 3] = 0xFF
    path = tmp_path / "late-sound.dv"
    path.write_bytes(bytes(data))
    outcome = probe_fast(path, path.stat().st_size, PyAVProber().version)
    assert outcome.result is None
    result = PyAVProber().probe(path)
    assert (result.audio_codec, result.audio_sample_rate) == ("pcm_s16le", 48000)
    assert result == PyAVProber(fast=False).probe(path)
