"""A FLAC file's length from its last frame's header, where its STREAMINFO states none.

An encoder writing FLAC to a pipe cannot go back to fill in STREAMINFO's total sample count
(`ffmpeg ... -f flac - > file`, stream recorders) and leaves it 0; libav and ffprobe then
state no duration. Every frame header numbers its frame (fixed block size) or its first
sample (variable block size) and states its block size, so the first frame (after the
metadata blocks) and the last, found in the file's last bytes, give the length: a recorder
that joined a live stream keeps the encoder's numbering, so the first frame's number counts
too. Two small reads and one of the end. A frame header is believed when
its CRC-8 holds, its sample rate and channels agree with STREAMINFO, and a header before
it leads to it (numbers the frame, or ends the samples, just before); sync codes in audio
seldom pass the first check and practically never all three. A length the file's bytes
could not hold (below 100 bit/s) is not believed. A last frame cut short counts whole (at
most one block, ~0.1 s, too long).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from mediashelf.probe.blocks import flac_blocks
from mediashelf.probe.covers import id3v2_end
from mediashelf.probe.reader import ProbeReader
from mediashelf.probe.result import ProbeResult

TAIL = 512 * 1024  # bytes read at the end: several of the largest common frames
_STREAMINFO = 4 + 4 + 34  # "fLaC", a metadata block header, the STREAMINFO block
_HEADER_MAX = 16  # a frame header's longest form: sync to CRC-8
_MIN_BITRATE = 100  # bit/s: below this the frame numbers claim more than the bytes hold
# Sample rate codes 1-11 of a frame header (0: STREAMINFO's; 12-14: stated after the number).
_RATES = (0, 88200, 176400, 192000, 8000, 16000, 22050, 24000, 32000, 44100, 48000, 96000)


@dataclass(frozen=True)
class StreamInfo:
    """What a frame header is checked against."""

    rate: int
    channels: int


@dataclass(frozen=True)
class FrameHeader:
    """A frame header's number (a frame's, or its first sample's) and block size."""

    number: int
    block: int
    variable: bool

    def following(self) -> int:
        """Return the number the frame after this one states: the next frame's, or the
        first sample after this block's."""
        return self.number + self.block if self.variable else self.number + 1


def counted_length(path: Path, result: ProbeResult) -> ProbeResult:
    """Return `result` with the duration of a FLAC file whose STREAMINFO states none."""
    if result.container != "flac" or result.duration is not None or not result.size_bytes:
        return result
    try:
        with ProbeReader(path) as file:
            start = id3v2_end(file)
            info = stream_info(file.pread(start, _STREAMINFO))
            if info is None:
                return result
            first = first_frame(file, start, info)
            last = last_frame(file.pread(max(start, file.size - TAIL), TAIL), info)
    except OSError:
        return result
    samples = None if first is None or last is None else samples_between(first, last)
    if not samples:
        return result
    seconds = samples / info.rate
    bitrate = result.size_bytes * 8 / seconds
    if bitrate < _MIN_BITRATE:
        return result
    return replace(result, duration=round(seconds, 6), bitrate=round(bitrate))


def stream_info(head: bytes) -> StreamInfo | None:
    """Return the STREAMINFO at the start of `head` ("fLaC" first), or None."""
    if len(head) < _STREAMINFO or not head.startswith(b"fLaC") or head[4] & 0x7F != 0:
        return None
    block = head[8:]
    rate = int.from_bytes(block[10:13], "big") >> 4
    channels = (block[12] >> 1 & 0x07) + 1
    return StreamInfo(rate, channels) if rate else None


def first_frame(file: ProbeReader, start: int, info: StreamInfo) -> FrameHeader | None:
    """Return the header of the frame after the metadata blocks, or None."""
    for block in flac_blocks(file, start + 4):  # past "fLaC"
        if block.last:
            return frame_header(file.pread(block.end, _HEADER_MAX), 0, info)
    return None


def samples_between(first: FrameHeader, last: FrameHeader) -> int | None:
    """Return the samples from the start of `first` to the end of `last`.

    A fixed-block stream numbers frames, all of the first frame's size but the last.
    """
    if first.variable != last.variable:
        return None
    if last.variable:
        samples = last.following() - first.number
    else:
        samples = (last.number - first.number) * first.block + last.block
    return samples if samples > 0 else None


def last_frame(tail: bytes, info: StreamInfo) -> FrameHeader | None:
    """Return the last frame header in `tail` that an earlier one there leads to.

    One pass, remembering where the headers seen so far leave the stream: a crafted tail of
    valid headers that never chain costs as much as a real one.
    """
    ends: set[tuple[bool, int]] = set()  # (variable, the number a following frame states)
    last: FrameHeader | None = None
    for at in _syncs(tail):
        header = frame_header(tail, at, info)
        if header is None:
            continue
        if (header.variable, header.number) in ends:
            last = header
        ends.add((header.variable, header.following()))
    return last


def _syncs(data: bytes) -> list[int]:
    found, at = [], data.find(b"\xff")
    while at != -1 and at + 1 < len(data):
        if data[at + 1] & 0xFE == 0xF8:
            found.append(at)
        at = data.find(b"\xff", at + 1)
    return found


def frame_header(data: bytes, at: int, info: StreamInfo) -> FrameHeader | None:
    """Return the frame header at `at` when its fields and CRC-8 hold and agree with `info`."""
    head = data[at : at + _HEADER_MAX]
    if len(head) < 6 or head[0] != 0xFF or head[1] & 0xFE != 0xF8:
        return None
    block_code, rate_code = head[2] >> 4, head[2] & 0x0F
    channel_code, reserved = head[3] >> 4, head[3] & 0x01
    if block_code == 0 or rate_code == 15 or channel_code > 10 or reserved:
        return None
    if (channel_code + 1 if channel_code < 8 else 2) != info.channels:
        return None
    if 0 < rate_code < 12 and _RATES[rate_code] != info.rate:
        return None
    number, end = _utf8_number(head, 4)
    block, end = _block_size(head, block_code, end)
    if number is None or block is None:
        return None
    rate_bytes = {12: 1, 13: 2, 14: 2}.get(rate_code, 0)
    if end + rate_bytes >= len(head):
        return None
    if rate_bytes and _stated_rate(rate_code, head[end : end + rate_bytes]) != info.rate:
        return None
    end += rate_bytes
    if crc8(head[:end]) != head[end]:
        return None
    return FrameHeader(number, block, bool(head[1] & 0x01))


def _stated_rate(code: int, value: bytes) -> int:
    """The rate a header states after its number: in kHz (12), Hz (13) or tens of Hz (14)."""
    number = int.from_bytes(value, "big")
    return number * {12: 1000, 13: 1, 14: 10}[code]


def _utf8_number(head: bytes, at: int) -> tuple[int | None, int]:
    """Decode the frame or sample number, coded like UTF-8 up to 7 bytes (36 bits)."""
    first = head[at]
    length = next((n for n in range(8) if not first & (0x80 >> n)), 8)
    if length == 1 or length > 7 or at + max(length, 1) > len(head):
        return None, at
    if length == 0:
        return first, at + 1
    value = first & (0x7F >> length)
    for byte in head[at + 1 : at + length]:
        if byte & 0xC0 != 0x80:
            return None, at
        value = value << 6 | byte & 0x3F
    return value, at + length


def _block_size(head: bytes, code: int, at: int) -> tuple[int | None, int]:
    if code == 1:
        return 192, at
    if code <= 5:
        return 576 << (code - 2), at
    if code in (6, 7):
        size = code - 5  # the block size minus one follows, in 1 or 2 bytes
        if at + size > len(head):
            return None, at
        return int.from_bytes(head[at : at + size], "big") + 1, at + size
    return 256 << (code - 8), at


def _crc8_table() -> bytes:
    table = bytearray(256)
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc << 1 ^ 0x07) & 0xFF if crc & 0x80 else crc << 1 & 0xFF
        table[byte] = crc
    return bytes(table)


_CRC8 = _crc8_table()


def crc8(data: bytes) -> int:
    """FLAC's frame header CRC-8 (polynomial 0x07, initial 0), a table lookup a byte."""
    crc = 0
    for byte in data:
        crc = _CRC8[crc ^ byte]
    return crc
