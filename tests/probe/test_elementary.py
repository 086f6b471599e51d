"""Random bytes under an elementary-stream name are not audio; real streams of any shape are."""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import av
import pytest

from mediashelf.demo_library import ClipSpec, write_clip
from mediashelf.errors import ProbeError
from mediashelf.probe.base import Prober
from mediashelf.probe.chain import ProbeChain
from mediashelf.probe.elementary import SEARCH, checked_stream
from mediashelf.probe.ffprobe_backend import FfprobeProber
from mediashelf.probe.pyav_backend import PyAVProber
from mediashelf.probe.result import ProbeResult
from tests.conftest import missing_environment
from tests.media.covers import id3v2_cover_tag
from tests.media.mp3 import apev2_tag, id3v1_tag

# (extension, seed, MiB): random bytes that libav 8.1 (PyAV) or 5.1 (ffprobe, the chain's
# fallback) read as a stream before the run check: a 175 s MP3, a 37 s AAC, E-AC-3, a 636 s GSM.
ACCEPTED_BY_LIBAV = [("mp3", 14, 3), ("mp2", 14, 3), ("mpa", 14, 3), ("aac", 4, 2),
                     ("ac3", 0, 1), ("eac3", 0, 1), ("gsm", 0, 1)]  # fmt: skip


def _random_file(directory: Path, ext: str, seed: int, mib: int) -> Path:
    path = directory / f"random-{seed}.{ext}"
    path.write_bytes(random.Random(seed).randbytes(mib << 20))
    return path


@pytest.mark.parametrize(("ext", "seed", "mib"), ACCEPTED_BY_LIBAV)
def test_random_bytes_libav_reads_as_audio_are_corrupt_on_every_backend(
    each_way: Prober, tmp_path: Path, ext: str, seed: int, mib: int
) -> None:
    path = _random_file(tmp_path, ext, seed, mib)
    with pytest.raises(ProbeError) as raised:
        each_way.probe(path)
    assert raised.value.error_class == "corrupt"


@pytest.mark.parametrize(("ext", "seed", "mib"), ACCEPTED_BY_LIBAV)
def test_the_chain_does_not_fall_back_to_a_backend_that_believes_them(
    require_ffprobe: None, tmp_path: Path, ext: str, seed: int, mib: int
) -> None:
    path = _random_file(tmp_path, ext, seed, mib)
    chain = ProbeChain((PyAVProber(), FfprobeProber()))
    with pytest.raises(ProbeError) as raised:
        chain.probe(path)
    assert raised.value.error_class == "corrupt"


ENCODED = [
    ("mp3", ClipSpec("mp3", None, "libmp3lame", duration_s=1.0)),
    ("mp3", ClipSpec("mp3", None, "libmp3lame", duration_s=0.05)),  # two frames
    ("mp3", ClipSpec("mp3", None, "libmp3lame", sample_rate=8000, layout="mono")),  # MPEG-2.5
    ("mp2", ClipSpec("mp2", None, "mp2", sample_rate=22050, layout="mono")),
    ("aac", ClipSpec("adts", None, "aac", duration_s=1.0)),
    ("aac", ClipSpec("adts", None, "aac", duration_s=0.05)),
    ("ac3", ClipSpec("ac3", None, "ac3", sample_rate=44100)),
    ("ac3", ClipSpec("ac3", None, "ac3", sample_rate=32000, duration_s=0.05)),
    ("eac3", ClipSpec("eac3", None, "eac3", sample_rate=48000, layout="5.1(side)")),
]


@pytest.mark.parametrize(("ext", "spec"), ENCODED, ids=lambda v: getattr(v, "audio_codec", v))
def test_encoded_streams_of_every_shape_pass(
    each_way: Prober, tmp_path: Path, ext: str, spec: ClipSpec
) -> None:
    path = tmp_path / f"clip.{ext}"
    write_clip(path, spec)
    assert each_way.probe(path).has_audio


def test_an_mp3_after_a_cover_tag_junk_and_before_an_id3v1_tag_passes(tmp_path: Path) -> None:
    bare = tmp_path / "bare.mp3"
    write_clip(bare, ClipSpec("mp3", None, "libmp3lame", duration_s=0.5))
    path = tmp_path / "tagged.mp3"
    junk = random.Random(3).randbytes(3000)  # what a broken tagger leaves before the audio
    path.write_bytes(id3v2_cover_tag(b"\xff\xd8" + bytes(600_000)) + junk + bare.read_bytes()
                     + b"TAG" + bytes(125))  # fmt: skip
    assert PyAVProber().probe(path).duration is not None


def test_a_stream_starting_past_the_search_window_is_not_taken(tmp_path: Path) -> None:
    bare = tmp_path / "bare.mp3"
    write_clip(bare, ClipSpec("mp3", None, "libmp3lame", duration_s=0.5))
    near, far = tmp_path / "near.mp3", tmp_path / "far.mp3"
    near.write_bytes(bytes(SEARCH // 2) + bare.read_bytes())  # libav itself skips zeros
    far.write_bytes(bytes(SEARCH + 4096) + bare.read_bytes())
    result = ProbeResult("mp3", 1.0, near.stat().st_size, 1, has_video=False, has_audio=True)
    assert checked_stream(near, result) is result
    with pytest.raises(ProbeError):
        checked_stream(far, result)


def test_gsm_frames_need_their_mark_from_the_first_byte(tmp_path: Path) -> None:
    rng = random.Random(5)
    frames = [bytes([0xD0 | rng.randrange(16)]) + rng.randbytes(32) for _ in range(100)]
    good, shifted = tmp_path / "good.gsm", tmp_path / "shifted.gsm"
    good.write_bytes(b"".join(frames))
    shifted.write_bytes(b"\x00" + b"".join(frames))
    assert PyAVProber().probe(good).audio_codec == "gsm"
    with pytest.raises(ProbeError):
        PyAVProber().probe(shifted)


FFMPEG_ONLY = [
    ("gsm", ["-ar", "8000", "-ac", "1", "-c:a", "libgsm"]),
    ("dts", ["-ar", "48000", "-ac", "2", "-c:a", "dca", "-strict", "-2"]),
]


@pytest.mark.parametrize(("ext", "args"), FFMPEG_ONLY)
def test_streams_only_ffmpeg_writes_pass(
    each_way: Prober, tmp_path: Path, ext: str, args: list[str]
) -> None:
    """GSM and DTS: PyAV's FFmpeg has no encoder for them; the ffmpeg tool does."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        missing_environment("ffmpeg is not installed")
    path = tmp_path / f"tone.{ext}"
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "sine=duration=2", *args,
                    str(path)], check=True, timeout=60)  # fmt: skip
    result = each_way.probe(path)
    assert result.audio_codec == ext
    assert result.duration is not None
    assert abs(result.duration - 2) < 0.1


def test_a_multiplex_of_two_programmes_is_described_by_the_films_own(
    each_way: Prober, tmp_path: Path
) -> None:
    """A broadcast capture with two channels: the larger picture is programme 2's, and its
    sound is too (it was programme 1's, 48 kHz, on every backend)."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        missing_environment("ffmpeg is not installed")
    path = tmp_path / "multiplex.ts"
    sources = ["testsrc2=s=320x240:r=25:d=1", "sine=f=440:r=48000:d=1",
               "testsrc2=s=640x360:r=30:d=1", "sine=f=880:r=44100:d=1"]  # fmt: skip
    inputs = [arg for source in sources for arg in ("-f", "lavfi", "-i", source)]
    maps = [arg for index in range(4) for arg in ("-map", str(index))]
    subprocess.run([ffmpeg, "-v", "error", *inputs, *maps, "-c:v", "mpeg2video", "-c:a", "mp2",
                    "-program", "title=One:st=0:st=1", "-program", "title=Two:st=2:st=3",
                    str(path)], check=True, timeout=60)  # fmt: skip
    result = each_way.probe(path)
    assert (result.width, result.height, result.video_fps) == (640, 360, 30.0)
    assert (result.audio_codec, result.audio_sample_rate) == ("mp2", 44100)


def test_a_megabyte_of_sync_bytes_without_frames_is_corrupt(tmp_path: Path) -> None:
    """Every byte a candidate frame start: the search gives up after MAX_CANDIDATES."""
    path = tmp_path / "sync.mp3"
    path.write_bytes(b"\xff" * (2 << 20))
    result = ProbeResult("mp3", 1.0, path.stat().st_size, 1, has_video=False, has_audio=True)
    with pytest.raises(ProbeError) as raised:
        checked_stream(path, result)
    assert raised.value.error_class == "corrupt"


def _ac3_frame(size_code: int = 0x10) -> bytes:
    """An AC-3 sync frame of 48 kHz (bsid 8): 0x10 is 128 kbit/s, 512 bytes."""
    head = b"\x0b\x77\x00\x00" + bytes([size_code, 8 << 3, 0x40])
    return head + bytes(2 * 2 * (32, 40, 48, 56, 64, 80, 96, 112, 128)[size_code // 2] - len(head))


def _eac3_frame(words: int = 255, dependent: bool = True) -> bytes:
    """An E-AC-3 frame (bsid 16) of `words` + 1 16-bit words; a dependent substream or not."""
    head = bytes([0x0B, 0x77, (0x40 if dependent else 0) | (words >> 8), words & 0xFF,
                  0x3F, 16 << 3])  # fmt: skip
    return head + bytes((words + 1) * 2 - len(head))


def test_an_ac3_core_with_an_eac3_extension_is_one_stream(tmp_path: Path) -> None:
    """Blu-ray's Dolby Digital Plus 7.1: each AC-3 5.1 frame followed by an E-AC-3 frame."""
    path = tmp_path / "7.1.eac3"
    path.write_bytes((_ac3_frame() + _eac3_frame()) * 20)
    result = ProbeResult("eac3", 1.0, path.stat().st_size, 1, has_video=False, has_audio=True)
    assert checked_stream(path, result) is result


@pytest.mark.parametrize(
    ("frames", "tail"),
    [(2, b""), (2, bytes(100)), (2, b"TAG" + bytes(125)), (3, random.Random(2).randbytes(500))],
    ids=["two-frames", "zero-padding", "id3v1", "three-frames-and-a-trailer"],
)
def test_a_stream_of_a_few_frames_ends_the_file(tmp_path: Path, frames: int, tail: bytes) -> None:
    path = tmp_path / "short.ac3"
    path.write_bytes(_ac3_frame() * frames + tail)
    result = ProbeResult("ac3", 0.1, path.stat().st_size, 1, has_video=False, has_audio=True)
    assert checked_stream(path, result).has_audio  # taken, not raised as corrupt


def test_one_frame_then_anything_is_not_a_recording(tmp_path: Path) -> None:
    path = tmp_path / "one.ac3"
    path.write_bytes(_ac3_frame() + random.Random(3).randbytes(500))
    result = ProbeResult("ac3", 0.1, path.stat().st_size, 1, has_video=False, has_audio=True)
    with pytest.raises(ProbeError):
        checked_stream(path, result)


@pytest.mark.parametrize(
    ("ext", "spec"),
    [("aac", ClipSpec("adts", None, "aac", duration_s=4.0, amplitude=0)),
     ("ac3", ClipSpec("ac3", None, "ac3", duration_s=4.0, amplitude=0)),
     ("eac3", ClipSpec("eac3", None, "eac3", sample_rate=48000, duration_s=4.0, amplitude=0))],
    ids=["aac", "ac3", "eac3"],
)  # fmt: skip
def test_tags_after_the_stream_are_not_timed_as_audio(
    each_way: Prober, tmp_path: Path, ext: str, spec: ClipSpec
) -> None:
    """libav times these streams by their size: an 8 s AAC behind a 1.2 MB APEv2 cover lasted
    141 s on every backend."""
    bare = tmp_path / f"bare.{ext}"
    write_clip(bare, spec)
    expected = each_way.probe(bare).duration
    assert expected is not None
    tagged = tmp_path / f"tagged.{ext}"
    cover = {"Cover Art (Front)": b"cover.jpg\x00\xff\xd8" + bytes(1_200_000)}
    tagged.write_bytes(bare.read_bytes() + apev2_tag(cover) + id3v1_tag("tagged"))
    result = each_way.probe(tagged)
    assert result.duration is not None
    assert abs(result.duration - expected) < 0.01 * expected


def test_an_amr_header_over_random_bytes_is_corrupt(each_way: Prober, tmp_path: Path) -> None:
    """A recording overwritten but for its magic: libav read 1,165 s of 'speech' from it."""
    path = tmp_path / "overwritten.amr"
    path.write_bytes(b"#!AMR\n" + random.Random(0).randbytes(512 * 1024))
    with pytest.raises(ProbeError) as raised:
        each_way.probe(path)
    assert raised.value.error_class == "corrupt"


def test_an_amr_recording_passes(each_way: Prober, tmp_path: Path) -> None:
    path = tmp_path / "speech.amr"
    write_clip(path, ClipSpec("amr", None, "libopencore_amrnb", sample_rate=8000,
                              layout="mono", duration_s=2.0))  # fmt: skip
    result = each_way.probe(path)
    assert result.audio_codec == "amr_nb"
    assert result.duration is not None
    assert abs(result.duration - 2.0) < 0.05


def _amr(magic: bytes, modes: list[int], sizes: dict[int, int]) -> bytes:
    """AMR storage format: the magic, then per frame its TOC byte (quality bit set) and data."""
    noise = random.Random(3)
    return magic + b"".join(bytes([mode << 3 | 0x04]) + noise.randbytes(sizes[mode] - 1)
                            for mode in modes)  # fmt: skip


AMR_SHAPES = {
    "nb-12k2": (b"#!AMR\n", [7] * 150, {7: 32, 15: 1}),
    "nb-no-data": (b"#!AMR\n", [7, 7, 15] * 50, {7: 32, 15: 1}),  # gaps in a transmission
    "wb-23k85": (b"#!AMR-WB\n", [8] * 150, {8: 61}),
}


@pytest.mark.parametrize("shape", sorted(AMR_SHAPES))
@pytest.mark.parametrize("cut", [False, True])
def test_an_amr_file_lasts_20_ms_a_frame(
    each_way: Prober, tmp_path: Path, shape: str, cut: bool
) -> None:
    """libav divides the size by a rate without the TOC bytes: 3.097 s for 150 frames."""
    magic, modes, sizes = AMR_SHAPES[shape]
    data = _amr(magic, modes, sizes) + (_amr(b"", [modes[0]], sizes)[:9] if cut else b"")
    path = tmp_path / f"{shape}.amr"
    path.write_bytes(data)
    result = each_way.probe(path)
    assert result.duration == 3.0
    assert result.bitrate == round(len(data) * 8 / 3.0)


@pytest.fixture(scope="module")
def adts_tone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 s of AAC in ADTS, whose frames vary in size as an encoder makes them."""
    path = tmp_path_factory.mktemp("adts") / "tone.aac"
    write_clip(path, ClipSpec("adts", None, "aac", duration_s=8.0))
    return path


def _libav_estimate(path: Path) -> float:
    with av.open(str(path)) as container:
        assert container.duration is not None
        return container.duration / 1e6


def _decoded_seconds(path: Path) -> float:
    with av.open(str(path)) as container:
        rate = container.streams.audio[0].sample_rate
        return sum(frame.samples for frame in container.decode(audio=0)) / rate


def test_an_adts_stream_is_timed_by_its_frames(each_way: Prober, adts_tone: Path) -> None:
    decoded = _decoded_seconds(adts_tone)
    assert abs(_libav_estimate(adts_tone) - decoded) > 0.1  # the size over a guessed bitrate
    result = each_way.probe(adts_tone)
    assert result.duration == pytest.approx(decoded, abs=1e-5)
    size = adts_tone.stat().st_size
    assert result.bitrate == result.audio_bitrate == round(size * 8 / decoded)


def test_adts_frames_the_walk_cannot_cross_leave_libavs_estimate(
    adts_tone: Path, tmp_path: Path
) -> None:
    data = adts_tone.read_bytes()
    middle = len(data) // 2
    path = tmp_path / "damaged.aac"
    path.write_bytes(data[:middle] + bytes(4_000) + data[middle:])  # 4 KB zeroed mid-file
    result = PyAVProber(fast=False).probe(path)
    assert result.duration == round(_libav_estimate(path), 6)


def _ape_footer_claiming(size: int) -> bytes:
    """An APEv2 footer (crafted) whose tag size says it runs back `size` bytes."""
    return b"APETAGEX" + (2000).to_bytes(4, "little") + size.to_bytes(4, "little") + bytes(16)


@pytest.mark.parametrize(
    ("ext", "spec"),
    [("aac", ClipSpec("adts", None, "aac", duration_s=1.0, amplitude=0)),
     ("ac3", ClipSpec("ac3", None, "ac3", duration_s=1.0, amplitude=0))],
    ids=["aac", "ac3"],
)  # fmt: skip
@pytest.mark.parametrize("reach", ["whole file", "into a leading ID3v2 tag"])
def test_a_trailing_tag_claiming_the_audio_leaves_libavs_figure(
    each_way: Prober, tmp_path: Path, ext: str, spec: ClipSpec, reach: str
) -> None:
    """A tag's size that swallows the audio is not believed (it divided by zero)."""
    bare = tmp_path / f"bare.{ext}"
    write_clip(bare, spec)
    body = bare.read_bytes()
    lead = b"ID3\x03\x00\x00\x00\x00\x08\x00" + bytes(1024) if reach != "whole file" else b""
    path = tmp_path / f"crafted.{ext}"
    path.write_bytes(lead + body + _ape_footer_claiming(len(body) + 32 + len(lead) // 2))
    result = each_way.probe(path)
    assert result.duration is not None
    assert result.duration > 0


def test_an_adts_stream_cut_inside_its_last_frame_lasts_its_whole_frames(
    each_way: Prober, adts_tone: Path, tmp_path: Path
) -> None:
    """An interrupted download: the cut frame does not count, the others do."""
    whole = each_way.probe(adts_tone).duration
    assert whole is not None
    path = tmp_path / "cut.aac"
    path.write_bytes(adts_tone.read_bytes()[:-100])  # every frame is longer than 100 bytes
    result = each_way.probe(path)
    assert result.duration == pytest.approx(whole - 1024 / 44100, abs=1e-5)
