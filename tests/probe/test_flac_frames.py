"""A FLAC file written to a pipe (no total in STREAMINFO) is timed by its last frame."""

from __future__ import annotations

import random
from pathlib import Path

import av
import pytest

from mediashelf.demo_library import ClipSpec, write_clip
from mediashelf.probe.base import Prober
from mediashelf.probe.flac_frames import (
    FrameHeader,
    StreamInfo,
    counted_length,
    crc8,
    frame_header,
    last_frame,
    samples_between,
)
from mediashelf.probe.pyav_backend import PyAVProber
from mediashelf.probe.result import ProbeResult

SECONDS = 3.0


def _piped(whole: Path, path: Path) -> None:
    """Write `whole` as an encoder writing to a pipe leaves it: no total samples, no MD5."""
    data = bytearray(whole.read_bytes())
    assert data[:4] == b"fLaC"
    assert data[4] & 0x7F == 0  # STREAMINFO first
    info = 8  # the STREAMINFO block's first byte
    data[info + 13] &= 0xF0  # the total's 36 bits: the low nibble of byte 13, bytes 14-17
    data[info + 14 : info + 18] = bytes(4)
    data[info + 18 : info + 34] = bytes(16)
    path.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def whole(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("flac") / "whole.flac"
    write_clip(path, ClipSpec("flac", None, "flac", duration_s=SECONDS, sample_rate=48000))
    return path


def test_the_piped_file_is_the_case_libav_gets_wrong(whole: Path, tmp_path: Path) -> None:
    path = tmp_path / "piped.flac"
    _piped(whole, path)
    with av.open(str(path)) as container:
        assert container.duration is None  # libav states no length


@pytest.mark.parametrize("trailer", [b"", b"TAG" + bytes(125)], ids=["bare", "id3v1"])
def test_a_flac_written_to_a_pipe_lasts_as_long_as_its_frames(
    each_way: Prober, whole: Path, tmp_path: Path, trailer: bytes
) -> None:
    path = tmp_path / "piped.flac"
    _piped(whole, path)
    path.write_bytes(path.read_bytes() + trailer)
    expected = PyAVProber().probe(whole).duration
    result = each_way.probe(path)
    assert result.duration == expected == SECONDS
    assert result.bitrate == round(path.stat().st_size * 8 / SECONDS)


def test_a_stated_total_is_left_alone(each_way: Prober, whole: Path) -> None:
    result = each_way.probe(whole)
    assert result.duration == SECONDS


INFO = StreamInfo(rate=44100, channels=2)


def _header(number: int, block_code: int, *, variable: bool, extra: bytes = b"") -> bytes:
    """A frame header: sync, block size and rate codes (44.1 kHz), stereo, 16-bit, number."""
    assert number < 0x800  # one or two bytes of FLAC's UTF-8-like coding
    coded = bytes([number]) if number < 0x80 else bytes([0xC0 | number >> 6, 0x80 | number & 0x3F])
    head = bytes([0xFF, 0xF9 if variable else 0xF8, block_code << 4 | 9, 0x18]) + coded + extra
    return head + bytes([crc8(head)])


def _parsed(header: bytes) -> FrameHeader:
    parsed = frame_header(header, 0, INFO)
    assert parsed is not None
    return parsed


def test_variable_block_frames_count_samples() -> None:
    noise = random.Random(5)
    first = _header(100, 7, variable=True, extra=(1151).to_bytes(2, "big"))  # 1,152 samples
    apart = _header(1300, 6, variable=True, extra=bytes([99]))  # 100 samples
    tail = noise.randbytes(300) + first + noise.randbytes(700) + apart + noise.randbytes(50)
    assert frame_header(tail, 300, INFO) is not None
    assert last_frame(tail, INFO) is None  # 100 + 1,152 is not 1,300: they do not chain
    chained = _header(1252, 6, variable=True, extra=bytes([99]))
    tail = noise.randbytes(300) + first + noise.randbytes(700) + chained + noise.randbytes(50)
    last = last_frame(tail, INFO)
    assert last is not None
    start = _parsed(_header(0, 7, variable=True, extra=(1151).to_bytes(2, "big")))
    assert samples_between(start, last) == 1252 + 100


def test_fixed_block_frames_count_frames_of_the_first_frames_size() -> None:
    noise = random.Random(6)
    tail = b"".join(_header(n, 12, variable=False) + noise.randbytes(900) for n in (40, 41, 42))
    last = last_frame(tail, INFO)
    assert last is not None
    assert samples_between(_parsed(_header(0, 12, variable=False)), last) == 43 * 4096
    # a recorder that joined a live stream at frame 20 holds frames 20-42
    assert samples_between(_parsed(_header(20, 12, variable=False)), last) == 23 * 4096
    assert samples_between(_parsed(_header(0, 7, variable=True, extra=b"\x0f\xff")), last) is None


def test_a_tail_of_headers_that_never_chain_is_read_in_one_pass() -> None:
    """Crafted: 512 KB of valid headers all numbered 0. Comparing each header with every
    earlier one would run for hours (the pool's timeout would end it, twice: quarantine)."""
    header = _header(0, 12, variable=False)
    tail = header * (TAIL_OF_NOISE // len(header))
    assert last_frame(tail, INFO) is None


@pytest.mark.parametrize(
    "cut", [b"\xff\xf8\x69\x18\xc3\x88", b"\xff\xf8\x79\x18\x05", b"\xff\xf8\xc9\x18\xfe\x80"]
)
def test_a_header_cut_by_the_end_of_the_file_is_not_read_past(cut: bytes) -> None:
    """A header whose block size or number runs past the data: none, not an IndexError."""
    assert frame_header(cut, 0, INFO) is None


def test_a_header_of_another_stream_or_with_a_bad_crc_is_not_believed() -> None:
    good = _header(7, 12, variable=False)
    assert frame_header(good, 0, INFO) is not None
    assert frame_header(good[:-1] + bytes([good[-1] ^ 1]), 0, INFO) is None
    assert frame_header(good, 0, StreamInfo(48000, 2)) is None
    assert frame_header(good, 0, StreamInfo(44100, 6)) is None
    stated = bytes([0xFF, 0xF8, 12 << 4 | 12, 0x18, 7, 44])  # rate code 12: 44 kHz stated
    assert frame_header(stated + bytes([crc8(stated)]), 0, INFO) is None
    assert last_frame(random.Random(7).randbytes(TAIL_OF_NOISE), INFO) is None


TAIL_OF_NOISE = 512 * 1024


def _streaminfo(last: bool = True) -> bytes:
    """fLaC and a STREAMINFO block: 4096-sample blocks, 44.1 kHz, stereo, 16-bit, no total."""
    fields = (4096).to_bytes(2, "big") * 2 + bytes(6)  # block sizes, frame sizes unknown
    packed = (44100 << 44 | 1 << 41 | 15 << 36).to_bytes(8, "big")  # rate, channels-1, bits-1
    return b"fLaC" + bytes([0x80 if last else 0, 0, 0, 34]) + fields + packed + bytes(16)


def _unknown(size: int) -> ProbeResult:
    return ProbeResult(container="flac", duration=None, size_bytes=size, bitrate=None,
                       has_video=False, has_audio=True)  # fmt: skip


def test_a_recording_that_joined_a_stream_lasts_from_its_first_frame(
    whole: Path, tmp_path: Path
) -> None:
    """A stream recorder keeps the encoder's frame numbers: its first frame is not 0."""
    piped = tmp_path / "piped.flac"
    _piped(whole, piped)
    data = piped.read_bytes()
    info = StreamInfo(rate=48000, channels=2)
    frames = [at for at in range(len(data) // 2, len(data)) if frame_header(data, at, info)]
    middle = _parsed_at(data, frames[0], info)
    first_offset = data.index(b"\xff\xf8")  # the first frame follows the metadata
    start = _parsed_at(data, first_offset, info)
    assert start.number == 0
    assert middle.number > 0
    joined = tmp_path / "joined.flac"
    joined.write_bytes(data[:first_offset] + data[frames[0] :])
    result = counted_length(joined, _unknown(joined.stat().st_size))
    assert result.duration is not None
    assert result.duration == pytest.approx(SECONDS - middle.number * start.block / 48000)


def _parsed_at(data: bytes, at: int, info: StreamInfo) -> FrameHeader:
    parsed = frame_header(data, at, info)
    assert parsed is not None
    return parsed


def test_frame_numbers_claiming_more_than_the_bytes_hold_are_not_believed(tmp_path: Path) -> None:
    """Chained headers numbered 1,000 frames in: 93 s in 200 bytes is below 100 bit/s."""
    noise = random.Random(8)
    frames = [_header(0, 12, variable=False), _header(1000, 12, variable=False),
              _header(1001, 12, variable=False)]  # fmt: skip
    path = tmp_path / "claims.flac"
    path.write_bytes(_streaminfo() + b"".join(f + noise.randbytes(40) for f in frames))
    result = counted_length(path, _unknown(path.stat().st_size))
    assert result.duration is None
    honest = tmp_path / "honest.flac"
    frames = [_header(n, 12, variable=False) for n in (0, 1, 2)]
    honest.write_bytes(_streaminfo() + b"".join(f + noise.randbytes(40) for f in frames))
    assert counted_length(honest, _unknown(honest.stat().st_size)).duration == pytest.approx(
        3 * 4096 / 44100, abs=1e-6
    )
