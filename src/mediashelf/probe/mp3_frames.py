"""The duration of a VBR MP3 that carries no frame count, counted from its frame headers.

An MP3 states its length only in a Xing/Info or VBRI header in its first frame. Without one,
libav (and ffprobe, and most media servers) assume a constant bitrate and divide the file's
size by the first frame's bitrate: right for CBR files, wrong by any amount for VBR ones
(a 12 s VBR file with a quiet start "lasts" 14.6 s; mp3 cutters and old encoders leave such
files). This module notices that case, bitrates that differ between places in the file, and
then walks every frame header (4 bytes per ~0.4 KB frame, no decoding) to count the frames.
Only such files are read whole; a CBR file costs three small reads.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

from mediashelf.probe.covers import ID3_HEADER, id3v2_tag_length
from mediashelf.probe.result import ProbeResult

MPEG_AUDIO_CODECS = frozenset({"mp1", "mp2", "mp3"})
_FIRST = 4096  # bytes read at the first frame: its header, and a Xing/Info/VBRI header
_WINDOW = 16 * 1024  # bytes read at each sampled place: a few dozen frames
_CHUNK = 1 << 20  # bytes per read while counting
_TRAILING_TAGS = 128 + 32 * 1024  # an ID3v1 tag, and room for an APEv2 or Lyrics3 tag

_BITRATES_KBPS = {  # (MPEG-1?, layer) -> kbit/s by index 1..14
    (True, 1): (32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (False, 3): (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_SAMPLE_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


@dataclass(frozen=True)
class Frame:
    """One MPEG audio frame header: what it takes to find the next one and to count time."""

    stream: tuple[int, int, int]  # (version bits, layer, sample rate): equal in one stream
    bitrate: int  # bit/s
    length: int  # bytes, header included
    samples: int
    sample_rate: int


def parse_header(head: bytes) -> Frame | None:
    """Return the frame whose 4-byte header `head` is, or None (free format included)."""
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return None
    version, layer_bits = (head[1] >> 3) & 3, (head[1] >> 1) & 3
    index, rate_index, padding = head[2] >> 4, (head[2] >> 2) & 3, (head[2] >> 1) & 1
    if version == 1 or layer_bits == 0 or index in (0, 15) or rate_index == 3:
        return None
    layer, mpeg1 = 4 - layer_bits, version == 3
    bitrate = _BITRATES_KBPS[(mpeg1, layer)][index - 1] * 1000
    rate = _SAMPLE_RATES[version][rate_index]
    if layer == 1:
        length = (12 * bitrate // rate + padding) * 4
        return Frame((version, layer, rate), bitrate, length, 384, rate)
    samples = 1152 if layer == 2 or mpeg1 else 576
    return Frame((version, layer, rate), bitrate, samples // 8 * bitrate // rate + padding,
                 samples, rate)  # fmt: skip


def counted_duration(path: Path, result: ProbeResult) -> ProbeResult:
    """Return `result` with the counted duration when `path` is a VBR MP3 without a count.

    The first frame is expected right after the ID3v2 tags. Anything unexpected (no frame
    there, a Xing/Info/VBRI header, one bitrate everywhere, damage the walk cannot cross)
    leaves `result` as libav read it.
    """
    if result.container != "mp3" or result.audio_codec not in MPEG_AUDIO_CODECS:
        return result
    if result.has_video or not result.size_bytes:
        return result
    try:
        with path.open("rb", buffering=0) as file:
            frames = _count_vbr(file, _after_tags(file), result.size_bytes)
    except OSError:
        return result
    if frames is None:
        return result
    count, audio_bytes, first = frames
    seconds = count * first.samples / first.sample_rate
    return replace(
        result,
        duration=round(seconds, 6),
        bitrate=round(result.size_bytes * 8 / seconds),
        audio_bitrate=round(audio_bytes * 8 / seconds),
    )


def _after_tags(file: BinaryIO) -> int:
    """Return where the audio starts: after the ID3v2 tags at the file's start (a few at most)."""
    start = 0
    for _ in range(4):
        length = id3v2_tag_length(_read_at(file, start, ID3_HEADER))
        if length is None:
            break
        start += length
    return start


def _count_vbr(file: BinaryIO, start: int, size: int) -> tuple[int, int, Frame] | None:
    head = _read_at(file, start, _FIRST)
    first = parse_header(head)
    if first is None or any(tag in head[: first.length] for tag in (b"Xing", b"Info", b"VBRI")):
        return None
    bitrates = {frame.bitrate for frame in _frames(_read_at(file, start, _WINDOW), first)}
    for third in (1, 2):  # a third and two thirds in: VBR files open with quiet frames
        place = start + (size - start) * third // 3
        bitrates |= {frame.bitrate for frame in _frames(_read_at(file, place, _WINDOW), first)}
    if len(bitrates) < 2:
        return None  # constant bitrate: libav's estimate is the length
    return _walk(file, start, size, first)


def _walk(file: BinaryIO, start: int, size: int, first: Frame) -> tuple[int, int, Frame] | None:
    """Count every frame from `start`; None when the frames stop well before the end."""
    count = audio_bytes = 0
    offset, buffer, base = start, b"", start
    while True:
        if offset + 4 > base + len(buffer):
            buffer, base = _read_at(file, offset, _CHUNK), offset
            if len(buffer) < 4:
                break
        frame = parse_header(buffer[offset - base : offset - base + 4])
        if frame is None or frame.stream != first.stream or offset + frame.length > size:
            break
        count, audio_bytes, offset = count + 1, audio_bytes + frame.length, offset + frame.length
    return (count, audio_bytes, first) if count and size - offset <= _TRAILING_TAGS else None


def _frames(data: bytes, first: Frame) -> list[Frame]:
    """Return the frames found in `data`: from its first header that two more confirm on."""
    for at in range(max(0, len(data) - 4)):
        chain = _chain(data, at, first)
        if len(chain) >= 3:
            return chain
    return []


def _chain(data: bytes, at: int, first: Frame) -> list[Frame]:
    chain: list[Frame] = []
    while at + 4 <= len(data):
        frame = parse_header(data[at : at + 4])
        if frame is None or frame.stream != first.stream:
            break
        chain.append(frame)
        at += frame.length
    return chain


def _read_at(file: BinaryIO, offset: int, size: int) -> bytes:
    file.seek(offset)
    return file.read(size)
