"""A FLAC file written to a pipe (no total in STREAMINFO) is timed by its last frame."""

from __future__ import annotations

import random
from pathlib import Path

import av
import pytest

from mediashelf.demo_library import ClipSpec, write_clip
from mediashelf.probe.base import Prober
from mediashelf.probe.flac_frames import StreamInfo, crc8, frame_header, total_samples
from mediashelf.probe.pyav_backend import PyAVProber

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


INFO = StreamInfo(max_block=4096, rate=44100, channels=2)


def _header(number: int, block_code: int, *, variable: bool, extra: bytes = b"") -> bytes:
    """A frame header: sync, block size and rate codes (44.1 kHz), stereo, 16-bit, number."""
    assert number < 0x800  # one or two bytes of FLAC's UTF-8-like coding
    coded = bytes([number]) if number < 0x80 else bytes([0xC0 | number >> 6, 0x80 | number & 0x3F])
    head = bytes([0xFF, 0xF9 if variable else 0xF8, block_code << 4 | 9, 0x18]) + coded + extra
    return head + bytes([crc8(head)])


def test_variable_block_frames_count_samples() -> None:
    noise = random.Random(5)
    first = _header(100, 7, variable=True, extra=(1151).to_bytes(2, "big"))  # 1,152 samples
    apart = _header(1300, 6, variable=True, extra=bytes([99]))  # 100 samples
    tail = noise.randbytes(300) + first + noise.randbytes(700) + apart + noise.randbytes(50)
    assert frame_header(tail, 300, INFO) is not None
    assert total_samples(tail, INFO) is None  # 100 + 1,152 is not 1,300: they do not chain
    chained = _header(1252, 6, variable=True, extra=bytes([99]))
    tail = noise.randbytes(300) + first + noise.randbytes(700) + chained + noise.randbytes(50)
    assert total_samples(tail, INFO) == 1252 + 100


def test_fixed_block_frames_count_frames() -> None:
    noise = random.Random(6)
    tail = b"".join(_header(n, 12, variable=False) + noise.randbytes(900) for n in (40, 41, 42))
    assert total_samples(tail, INFO) == 42 * 4096 + 4096


def test_a_tail_of_headers_that_never_chain_is_read_in_one_pass() -> None:
    """Crafted: 512 KB of valid headers all numbered 0. Comparing each header with every
    earlier one would run for hours (the pool's timeout would end it, twice: quarantine)."""
    header = _header(0, 12, variable=False)
    tail = header * (TAIL_OF_NOISE // len(header))
    assert total_samples(tail, INFO) is None


def test_a_header_of_another_stream_or_with_a_bad_crc_is_not_believed() -> None:
    good = _header(7, 12, variable=False)
    assert frame_header(good, 0, INFO) is not None
    assert frame_header(good[:-1] + bytes([good[-1] ^ 1]), 0, INFO) is None
    assert frame_header(good, 0, StreamInfo(4096, 48000, 2)) is None
    assert frame_header(good, 0, StreamInfo(4096, 44100, 6)) is None
    assert total_samples(random.Random(7).randbytes(TAIL_OF_NOISE), INFO) is None


TAIL_OF_NOISE = 512 * 1024
