"""A VBR MP3 without a frame count is timed by its frames; every other MP3 as libav reads it."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import av
import pytest

from mediashelf.probe.base import Prober
from mediashelf.probe.covers import ID3_HEADER, id3v2_tag_length
from mediashelf.probe.mp3_frames import counted_duration
from mediashelf.probe.mpeg_audio import parse_header
from mediashelf.probe.pyav_backend import PyAVProber
from tests.media.covers import id3v2_cover_tag
from tests.media.mp3 import (
    apev2_tag,
    appended_id3v24,
    id3v1_tag,
    lyrics3v2_tag,
    write_cbr_mp3,
    write_vbr_mp3,
)

SECONDS = 8.0
FRAME_S = 1152 / 44100  # an encoder adds up to about two frames of delay and padding


@pytest.fixture(scope="module")
def vbr_without_count(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A VBR MP3 (quiet start, loud rest) without a Xing header, behind an ID3v2 cover tag."""
    bare = tmp_path_factory.mktemp("mp3") / "bare.mp3"
    write_vbr_mp3(bare, SECONDS, xing=False)
    path = bare.with_name("tagged.mp3")
    path.write_bytes(id3v2_cover_tag(b"\xff\xd8" + bytes(50_000)) + bare.read_bytes())
    return path


def test_the_file_is_the_case_libav_gets_wrong(vbr_without_count: Path) -> None:
    with av.open(str(vbr_without_count)) as container:
        assert container.duration is not None
        estimated = container.duration / 1e6
    assert estimated > 1.25 * SECONDS  # from the quiet first frame's bitrate: far too long


def test_a_vbr_mp3_without_a_count_is_timed_by_its_frames(
    each_way: Prober, vbr_without_count: Path
) -> None:
    result = each_way.probe(vbr_without_count)
    assert result.duration is not None
    assert SECONDS <= result.duration <= SECONDS + 2 * FRAME_S
    size = vbr_without_count.stat().st_size
    assert result.bitrate == round(size * 8 / result.duration)
    assert result.audio_bitrate is not None
    assert 32_000 < result.audio_bitrate < (result.bitrate or 0)  # the cover tag is not audio


def frame_bitrates(data: bytes) -> list[tuple[int, int]]:
    """Return (offset, bitrate) of every frame of the MP3 `data` after its ID3v2 tag."""
    assert data[:3] == b"ID3"
    size = data[6] << 21 | data[7] << 14 | data[8] << 7 | data[9]
    frames, at = [], 10 + size
    while (frame := parse_header(data[at : at + 4])) is not None:
        frames.append((at, frame.bitrate))
        at += frame.length
    return frames


def test_a_vbr_mp3_quiet_where_it_is_sampled_is_still_timed_by_its_frames(
    each_way: Prober, tmp_path: Path
) -> None:
    """Silence at the start, a third and two thirds in (by bytes), loud bursts between."""
    path = tmp_path / "quiet-where-sampled.mp3"
    write_vbr_mp3(path, 36.0, xing=False, loud=((6, 8), (20, 22), (34, 36)))
    data = path.read_bytes()
    frames = frame_bitrates(data)
    for third in (0, 1, 2):  # the premise: every frame near the sampled places is quiet
        place = len(data) * third // 3
        near = {rate for at, rate in frames if place <= at < place + 20_000}
        assert near == {frames[0][1]}, (third, near)
    result = each_way.probe(path)
    assert result.duration is not None
    assert 36.0 <= result.duration <= 36.0 + 2 * FRAME_S  # not 78 s from the quiet bitrate


def test_a_vbr_mp3_with_its_xing_header_keeps_libavs_length(tmp_path: Path) -> None:
    path = tmp_path / "xing.mp3"
    write_vbr_mp3(path, SECONDS, xing=True)
    result = PyAVProber().probe(path)
    assert counted_duration(path, result) is result
    assert result.duration is not None
    assert abs(result.duration - SECONDS) <= 2 * FRAME_S


def test_a_truncated_vbr_mp3_lasts_as_long_as_its_frames(
    each_way: Prober, vbr_without_count: Path, tmp_path: Path
) -> None:
    data = vbr_without_count.read_bytes()
    path = tmp_path / "truncated.mp3"
    path.write_bytes(data[: len(data) * 3 // 4])  # an interrupted download
    result = each_way.probe(path)
    assert result.duration is not None
    assert result.duration < SECONDS * 0.9


@pytest.mark.parametrize("kept", [0.25, 0.5, 0.9])
@pytest.mark.parametrize("kind", ["xing", "info"])
def test_a_cut_mp3_with_a_count_lasts_as_long_as_its_frames(
    each_way: Prober, tmp_path: Path, kind: str, kept: float
) -> None:
    """An interrupted download keeps its first frame's Xing/Info count of the whole file."""
    whole = tmp_path / "whole.mp3"
    if kind == "xing":
        write_vbr_mp3(whole, SECONDS, xing=True)
    else:
        write_cbr_mp3(whole, 300, info=True)
    length = PyAVProber().probe(whole).duration
    assert length is not None
    data = whole.read_bytes()
    path = tmp_path / "cut.mp3"
    path.write_bytes(data[: round(len(data) * kept)])
    result = each_way.probe(path)
    assert result.duration is not None
    expected = _frames_seconds(path.read_bytes()) - FRAME_S  # the count's frame holds no audio
    assert abs(result.duration - expected) <= FRAME_S, (result.duration, expected, length)
    assert result.duration < length * 0.95  # not the count's whole length
    assert result.bitrate == round(path.stat().st_size * 8 / result.duration)


def test_a_count_that_includes_the_encoders_own_id3v2_tag_is_believed(
    each_way: Prober, tmp_path: Path
) -> None:
    """An encoder that wrote the ID3v2 tag itself may count it in the Xing bytes field: the
    count still describes the file, and its gapless length stands (no walk)."""
    whole = tmp_path / "whole.mp3"
    write_vbr_mp3(whole, SECONDS, xing=True)
    expected = each_way.probe(whole).duration  # the count's length, as this backend rounds it
    data = bytearray(whole.read_bytes())
    start = id3v2_tag_length(bytes(data[:ID3_HEADER])) or 0
    xing = data.index(b"Xing", start)
    flags = int.from_bytes(data[xing + 4 : xing + 8], "big")
    assert flags & 0x03 == 0x03  # frames and bytes stated
    tag = id3v2_cover_tag(b"\xff\xd8" + bytes(5000))
    field = xing + 12  # after the frames field
    stated = int.from_bytes(data[field : field + 4], "big") + len(tag)
    data[field : field + 4] = stated.to_bytes(4, "big")
    path = tmp_path / "tagged.mp3"
    path.write_bytes(tag + bytes(data[start:]))
    assert each_way.probe(path).duration == expected


def _frames_seconds(data: bytes) -> float:
    """Seconds of the whole frames in `data` (an MP3 behind its ID3v2 tag), header by header."""
    offset, seconds = id3v2_tag_length(data[:ID3_HEADER]) or 0, 0.0
    while (frame := parse_header(data[offset : offset + 4])) and offset + frame.length <= len(data):
        seconds += frame.samples / frame.sample_rate
        offset += frame.length
    return seconds


def test_frames_the_walk_cannot_cross_leave_libavs_reading(
    vbr_without_count: Path, tmp_path: Path
) -> None:
    data = vbr_without_count.read_bytes()
    middle = len(data) // 2
    path = tmp_path / "damaged.mp3"
    path.write_bytes(data[:middle] + bytes(40_000) + data[middle:])  # 40 KB zeroed mid-file
    result = PyAVProber(fast=False).probe(path)
    with av.open(str(path)) as container:
        assert container.duration is not None
        assert result.duration == round(container.duration / 1e6, 6)


def test_a_cbr_mp3_is_timed_by_its_bytes_alike_on_both_paths(corpus_mp3: Path) -> None:
    fast, full = (PyAVProber(fast=fast).probe(corpus_mp3) for fast in (True, False))
    assert fast.duration is not None
    assert fast.duration == full.duration  # libav's own estimates differ by microseconds
    assert fast.audio_bitrate == full.audio_bitrate == 128_000
    with av.open(str(corpus_mp3)) as container:
        assert container.duration is not None
        assert abs(fast.duration - container.duration / 1e6) < 0.001
    jittered = replace(fast, duration=fast.duration + 3e-6)  # as libav's estimates differ
    assert counted_duration(corpus_mp3, jittered).duration == fast.duration


@pytest.fixture
def corpus_mp3(tmp_path: Path) -> Path:
    """A constant-bitrate MP3 without a Xing header, after an ID3v2 tag with a cover."""
    bare = tmp_path / "bare.mp3"
    write_cbr_mp3(bare, 3000)
    path = tmp_path / "cbr.mp3"
    path.write_bytes(id3v2_cover_tag(b"\xff\xd8" + bytes(50_000)) + bare.read_bytes())
    return path


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("fffb9064", (128_000, 417, 1152, 44100)),  # MPEG-1 layer III, 128 kbit/s
        ("fffb9264", (128_000, 418, 1152, 44100)),  # the same with a padding byte
        ("fff39064", (80_000, 261, 576, 22050)),  # MPEG-2 layer III, 80 kbit/s
        ("fffd9004", (160_000, 522, 1152, 44100)),  # MPEG-1 layer II, 160 kbit/s
        ("ffff9004", (288_000, 312, 384, 44100)),  # MPEG-1 layer I, 288 kbit/s
    ],
)
def test_frame_headers_are_read(header: str, expected: tuple[int, int, int, int]) -> None:
    frame = parse_header(bytes.fromhex(header))
    assert frame is not None
    assert (frame.bitrate, frame.length, frame.samples, frame.sample_rate) == expected


@pytest.mark.parametrize("header", ["fffb0064", "fffbf064", "fffb9c64", "ffeb9064", "4944330"])
def test_no_frame_is_read_from_what_is_not_a_header(header: str) -> None:
    assert parse_header(bytes.fromhex(header.ljust(8, "0"))) is None


@pytest.fixture(scope="module")
def untagged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three MP3s as encoders write them: VBR without a count, VBR with Xing, CBR without."""
    root = tmp_path_factory.mktemp("untagged")
    write_vbr_mp3(root / "vbr.mp3", SECONDS, xing=False)
    write_vbr_mp3(root / "xing.mp3", SECONDS, xing=True)
    cbr = root / "cbr.mp3"
    write_cbr_mp3(cbr, 300)
    return {"vbr": root / "vbr.mp3", "xing": root / "xing.mp3", "cbr": cbr}


COVER_ITEM = {"Cover Art (Front)": b"cover.jpg\x00\xff\xd8" + bytes(1_200_000)}


@pytest.mark.parametrize("kind", ["vbr", "xing", "cbr"])
@pytest.mark.parametrize(
    "trailer",
    [apev2_tag(COVER_ITEM) + id3v1_tag("with cover"), apev2_tag(COVER_ITEM, header=False),
     apev2_tag({"REPLAYGAIN_TRACK_GAIN": b"-6.2 dB"}) + id3v1_tag("gain"),
     appended_id3v24(id3v2_cover_tag(b"\xff\xd8" + bytes(300_000))),
     apev2_tag(COVER_ITEM) + lyrics3v2_tag("la " * 2000) + id3v1_tag("lyrics")],
    ids=["apev2-cover-id3v1", "apev2-cover-no-header", "mp3gain", "id3v24-appended",
         "apev2-lyrics3-id3v1"],
)  # fmt: skip
def test_tags_after_the_audio_are_not_timed_as_audio(
    each_way: Prober, untagged: dict[str, Path], tmp_path: Path, kind: str, trailer: bytes
) -> None:
    """foobar2000 and MP3Gain append APEv2 tags; libav counted a 1.2 MB cover as 240 s."""
    expected = PyAVProber().probe(untagged[kind]).duration
    assert expected is not None
    path = tmp_path / f"{kind}.mp3"
    path.write_bytes(untagged[kind].read_bytes() + trailer)
    result = each_way.probe(path)
    assert result.duration is not None
    assert abs(result.duration - expected) <= 2 * FRAME_S
    assert result.audio_bitrate is not None
    assert result.audio_bitrate < 400_000


def _plain_size_tag() -> bytes:
    """An ID3v2 tag (1.5 MB of cover) whose size a tagger wrote as a plain number."""
    tag = bytearray(id3v2_cover_tag(b"\xff\xd8" + bytes(1_500_000)))
    tag[6:10] = (len(tag) - 10).to_bytes(4, "big")  # 0x0016e3..: not syncsafe
    return bytes(tag)


LEADERS = {
    # libav skips zeros or junk between the tag and the first frame; the count starts there too
    "zeros-after-tag": id3v2_cover_tag(b"\xff\xd8" + bytes(20_000)) + bytes(4096),
    "junk-after-tag": id3v2_cover_tag(b"\xff\xd8" + bytes(20_000))
    + random.Random(8).randbytes(3000),
    # some taggers prepend a new tag on each save; libav skips them all
    "stacked-tags": id3v2_cover_tag(b"\xff\xd8" + bytes(300_000)) * 8,
    # libav resynchronises past a tag it cannot read; the frames behind its true length count
    "plain-size-tag": _plain_size_tag(),
}


@pytest.mark.parametrize("leader", LEADERS.values(), ids=LEADERS.keys())
def test_what_precedes_the_first_frame_is_skipped(
    each_way: Prober, untagged: dict[str, Path], tmp_path: Path, leader: bytes
) -> None:
    path = tmp_path / "led.mp3"
    path.write_bytes(leader + untagged["vbr"].read_bytes())
    result = each_way.probe(path)
    assert result.duration is not None
    assert SECONDS <= result.duration <= SECONDS + 2 * FRAME_S


def test_a_tag_leaving_no_frame_after_the_count_leaves_libavs_reading(
    each_way: Prober, tmp_path: Path
) -> None:
    """A crafted Xing byte count and an APEv2 size ending the audio inside the second frame:
    the walk counts one frame, the header's own; that is no length (it divided by zero)."""
    xing = tmp_path / "xing.mp3"
    write_vbr_mp3(xing, 2.0, xing=True)
    data = xing.read_bytes()
    at = data.index(b"Xing") if b"Xing" in data else data.index(b"Info")
    patched = bytearray(data)
    patched[at + 12 : at + 16] = (100).to_bytes(4, "big")  # the stated byte count
    first = data.index(b"\xff\xfb")
    header = parse_header(data[first : first + 4])
    assert header is not None
    tag = len(data) + 32 - (first + header.length + 20)  # the audio ends inside frame 2
    footer = b"APETAGEX" + (2000).to_bytes(4, "little") + tag.to_bytes(4, "little") + bytes(16)
    path = tmp_path / "crafted.mp3"
    path.write_bytes(bytes(patched) + footer)
    result = each_way.probe(path)
    assert result.duration is not None
    assert result.duration > 0


def test_mp3_files_joined_with_cat_last_as_long_as_their_parts(
    each_way: Prober, tmp_path: Path
) -> None:
    """Chapters joined with `cat`: each part brings its ID3v2 tag, its own bitrate and, from
    LAME, an Info frame without audio; libav times the whole by the first part's bitrate."""
    parts = [tmp_path / "1.mp3", tmp_path / "2.mp3", tmp_path / "3.mp3"]
    write_vbr_mp3(parts[0], 4.0, xing=True)
    write_cbr_mp3(parts[1], 300)  # 128 kbit/s, 7.8 s
    write_vbr_mp3(parts[2], 3.0, xing=False, loud=((0.0, 3.0),))
    path = tmp_path / "joined.mp3"
    path.write_bytes(b"".join(part.read_bytes() for part in parts))
    lengths = [PyAVProber().probe(part).duration or 0.0 for part in parts]
    with av.open(str(path)) as container:
        assert container.duration is not None
        assert abs(container.duration / 1e6 - sum(lengths)) > 1.0
    result = each_way.probe(path)
    assert result.duration == pytest.approx(sum(lengths), abs=3 * FRAME_S)  # LAME's delay
