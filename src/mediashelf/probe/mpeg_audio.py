"""MPEG audio (MP1/MP2/MP3) frame headers and the frame count an encoder states in the first.

A frame header (4 bytes) gives the frame's length, so frames can be walked without decoding.
The first frame of an encoder-written file may instead carry a Xing/Info header (LAME, most
encoders) or a VBRI header (Fraunhofer): the file's frame and byte counts, and in LAME's
extension the encoder delay and padding that players trim.
"""

from __future__ import annotations

from dataclasses import dataclass

_BITRATES_KBPS = {  # (MPEG-1?, layer) -> kbit/s by index 1..14
    (True, 1): (32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (False, 3): (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_SAMPLE_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}
_XING_FRAMES, _XING_BYTES, _XING_TOC, _XING_QUALITY = 1, 2, 4, 8
_LAME_DELAYS = 21  # offset of the 3 bytes of encoder delay and padding in LAME's extension


@dataclass(frozen=True)
class Frame:
    """One MPEG audio frame header: what it takes to find the next one and to count time."""

    stream: tuple[int, int, int]  # (version bits, layer, sample rate): equal in one stream
    bitrate: int  # bit/s
    length: int  # bytes, header included
    samples: int
    sample_rate: int
    mono: bool


@dataclass(frozen=True)
class StatedCount:
    """What a Xing/Info or VBRI header states about the whole file."""

    frames: int  # audio frames after the header's own
    bytes: int | None  # audio bytes, the header's frame included
    trimmed: int  # samples the encoder added at the start and end (LAME), 0 when unknown


def parse_header(head: bytes) -> Frame | None:
    """Return the frame whose 4-byte header `head` is, or None (free format included)."""
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return None
    version, layer_bits = (head[1] >> 3) & 3, (head[1] >> 1) & 3
    index, rate_index, padding = head[2] >> 4, (head[2] >> 2) & 3, (head[2] >> 1) & 1
    if version == 1 or layer_bits == 0 or index in (0, 15) or rate_index == 3:
        return None
    layer, mpeg1, mono = 4 - layer_bits, version == 3, head[3] >> 6 == 3
    bitrate = _BITRATES_KBPS[(mpeg1, layer)][index - 1] * 1000
    rate = _SAMPLE_RATES[version][rate_index]
    if layer == 1:
        length = (12 * bitrate // rate + padding) * 4
        return Frame((version, layer, rate), bitrate, length, 384, rate, mono)
    samples = 1152 if layer == 2 or mpeg1 else 576
    return Frame((version, layer, rate), bitrate, samples // 8 * bitrate // rate + padding,
                 samples, rate, mono)  # fmt: skip


def stated_count(first: bytes, frame: Frame) -> StatedCount | None:
    """Return the counts a Xing/Info or VBRI header in the frame `first` states, or None."""
    mpeg1 = frame.stream[0] == 3
    at = 4 + ((17 if frame.mono else 32) if mpeg1 else (9 if frame.mono else 17))
    if first[at : at + 4] in (b"Xing", b"Info"):
        return _xing(first, at)
    if first[36:40] == b"VBRI" and len(first) >= 54:  # always 32 bytes after the header
        frames = int.from_bytes(first[50:54], "big")
        return StatedCount(frames, int.from_bytes(first[46:50], "big"), 0) if frames else None
    return None


def _xing(first: bytes, at: int) -> StatedCount | None:
    flags = int.from_bytes(first[at + 4 : at + 8], "big")
    if not flags & _XING_FRAMES or len(first) < at + 16:
        return None
    frames = int.from_bytes(first[at + 8 : at + 12], "big")
    field = at + 12
    size = None
    if flags & _XING_BYTES:
        size = int.from_bytes(first[field : field + 4], "big")
        field += 4
    field += (100 if flags & _XING_TOC else 0) + (4 if flags & _XING_QUALITY else 0)
    delays = first[field + _LAME_DELAYS : field + _LAME_DELAYS + 3]
    trimmed = 0
    if len(delays) == 3 and first[field : field + 4] in (b"LAME", b"Lavc", b"Lavf"):
        trimmed = (delays[0] << 4 | delays[1] >> 4) + ((delays[1] & 0x0F) << 8 | delays[2])
    return StatedCount(frames, size or None, trimmed) if frames else None
