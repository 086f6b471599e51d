"""A WAV file whose samples carry fewer valid bits than the room they take, read as written.

WAVE_FORMAT_EXTENSIBLE states two widths: the container (wBitsPerSample, block_align per
channel) and the valid bits within it (24-bit audio in 32-bit words, as capture drivers and
some editors write it). libav (and ffprobe) pick the codec by the valid bits and time the
data by that codec's sample size: 24 valid bits in 32 become "pcm_f24le" lasting 4/3 of the
file, 16 in 32 last twice as long. The data is integer PCM in container-sized words (the
valid bits at the top), so the codec is the container's, the duration the data's bytes over
block_align, and the bit depth the valid bits. Read from the chunk headers: ~60 bytes.

RF64 and BW64, the 64-bit forms broadcast and field recorders write for long takes, are the
same file with a `ds64` chunk first that holds the data's size (the data chunk's own size
field then reads 0xFFFFFFFF); libav misreads their narrow samples alike.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace
from pathlib import Path

from mediashelf.probe.blocks import MAX_BLOCKS, riff_chunks
from mediashelf.probe.reader import ProbeReader
from mediashelf.probe.result import ProbeResult

_EXTENSIBLE = 0xFFFE
_PCM_GUID = bytes.fromhex("0100000000001000800000aa00389b71")
_UNKNOWN_SIZES = (0, 0xFFFFFFFF)  # what an encoder writing to a pipe leaves in the data size
_INTEGER_PCM = {16: "pcm_s16le", 24: "pcm_s24le", 32: "pcm_s32le"}
_PLAIN_PCM_TAGS = (0x0001, 0x0003, _EXTENSIBLE)  # integer, float, extensible
_RIFF_LIMIT = 1 << 32  # a RIFF size field's range: longer data wraps around in it
_WIDE_FORMS = (b"RF64", b"BW64")  # 64-bit sizes in a ds64 chunk: nothing wraps
_EMPTY_CHUNK = bytes(8)  # what zero bytes read as: a chunk with no name and no size
_JUNK_SPAN = 0xFFFFFFFE  # the longest even chunk size: the next header is where it says


@dataclass(frozen=True)
class WavLayout:
    """The fmt chunk's widths and where the sample data is."""

    channels: int
    rate: int
    block_align: int
    container_bits: int
    valid_bits: int
    data_bytes: int


def container_pcm(path: Path, result: ProbeResult) -> ProbeResult:
    """Return `result` with the codec, duration and depth of narrower valid bits in a WAV."""
    if result.container != "wav" or result.has_video or not result.size_bytes:
        return result
    try:
        with ProbeReader(path) as file:
            layout = wav_layout(file)
    except OSError:
        return result
    codec = None if layout is None else _INTEGER_PCM.get(layout.container_bits)
    frames = 0 if layout is None else layout.data_bytes // layout.block_align
    if layout is None or codec is None or not frames:  # not one sample: libav's reading stays
        return result
    seconds = frames / layout.rate
    return replace(
        result,
        audio_codec=codec,
        duration=round(seconds, 6),
        bitrate=round(result.size_bytes * 8 / seconds),
        audio_bitrate=layout.rate * layout.block_align * 8,
        audio_bit_depth=layout.valid_bits,
    )


def wrapped_data(path: Path, result: ProbeResult) -> ProbeResult:
    """Return `result` timed by the whole data of a WAV past 4 GiB whose sizes wrapped.

    Recorders that never switch to RF64 write a data size modulo 2**32: a 6 h 16-bit stereo
    recording (4.2 GB) states 100 s, and libav (ffprobe too) reports that, and a bitrate 200
    times the PCM rate. When the data chunk is the file's last and its stated size is the
    bytes that follow it minus whole multiples of 2**32, the data runs to the end.
    """
    if result.container != "wav" or not result.size_bytes or result.size_bytes < _RIFF_LIMIT:
        return result
    try:
        with ProbeReader(path) as file:
            layout = _wrapped_layout(file)
    except OSError:
        return result
    if layout is None:
        return result
    seconds = layout.data_bytes // layout.block_align / layout.rate
    return replace(
        result,
        duration=round(seconds, 6),
        bitrate=round(result.size_bytes * 8 / seconds),
        audio_bitrate=layout.rate * layout.block_align * 8,
    )


def _wrapped_layout(file: ProbeReader) -> WavLayout | None:
    """Return the plain PCM layout of a WAV whose last chunk's size wrapped, else None."""
    if _wave_form(file) != b"RIFF":
        return None
    fmt: bytes | None = None
    for chunk in riff_chunks(file, 12, "little"):
        if chunk.kind == b"fmt ":
            fmt = file.pread(chunk.body, min(chunk.size, 16))
        elif chunk.kind == b"data":
            following = file.size - chunk.body
            if fmt is None or len(fmt) < 16 or following <= chunk.size:
                return None
            if (following - chunk.size) % _RIFF_LIMIT:
                return None  # another chunk after the data: its size is not ours to guess
            tag, channels, rate, _byte_rate, block_align, bits = struct.unpack_from("<HHIIHH", fmt)
            if tag not in _PLAIN_PCM_TAGS or not (channels and rate and block_align):
                return None
            return WavLayout(channels, rate, block_align, bits, bits, following)
    return None


def wav_layout(file: ProbeReader) -> WavLayout | None:
    """Return the layout of integer PCM with narrower valid bits in the WAV `file`, or None.

    Chunk headers are read one by one (8 bytes each): a WAV that is not such a file costs
    its first 60 bytes, its fmt chunk telling.
    """
    form = _wave_form(file)
    if form is None:
        return None
    narrow: WavLayout | None = None
    stated_64 = 0
    for chunk in riff_chunks(file, 12, "little"):
        if chunk.kind == b"ds64":
            stated_64 = _ds64_data_size(file, form, chunk.body, chunk.size)
        elif chunk.kind == b"fmt ":
            narrow = _narrow(file.pread(chunk.body, min(chunk.size, 40)))
            if narrow is None:
                return None
        elif chunk.kind == b"data":
            if narrow is None:
                return None
            stated = _data_size(chunk.size, stated_64)
            return replace(narrow, data_bytes=_data_bytes(chunk.body, stated, file.size))
    return None


def _ds64_data_size(file: ProbeReader, form: bytes, body: int, size: int) -> int:
    """Return the data size an RF64/BW64 file's ds64 chunk states (0: none is stated)."""
    if form not in _WIDE_FORMS or size < 16:
        return 0
    return int.from_bytes(file.pread(body + 8, 8), "little")


def _data_size(stated: int, stated_64: int) -> int:
    """Return the data chunk's size: the ds64 chunk's where its own field says 0xFFFFFFFF."""
    return stated_64 if stated_64 and stated == 0xFFFFFFFF else stated


def _wave_form(file: ProbeReader) -> bytes | None:
    """Return the file's form (RIFF, RF64 or BW64) when it is a WAVE file, else None."""
    head = file.pread(0, 12)
    if len(head) < 12 or head[8:12] != b"WAVE" or head[:4] not in (b"RIFF", *_WIDE_FORMS):
        return None
    return head[:4]


def _data_bytes(start: int, stated: int, size: int) -> int:
    if stated in _UNKNOWN_SIZES or start + stated > size:
        return max(0, size - start)  # written to a pipe, or cut short: what is there
    return stated


def _narrow(fmt: bytes) -> WavLayout | None:
    """Return the layout an EXTENSIBLE integer-PCM fmt chunk states when its valid bits are
    fewer than its container's (the data's size still unknown), else None."""
    if len(fmt) < 40:
        return None
    tag, channels, rate, _byte_rate, block_align, bits = struct.unpack_from("<HHIIHH", fmt)
    valid = int.from_bytes(fmt[18:20], "little")
    if tag != _EXTENSIBLE or fmt[24:40] != _PCM_GUID or not (channels and rate and valid):
        return None
    if block_align != channels * bits // 8 or valid >= bits:
        return None
    return WavLayout(channels, rate, block_align, bits, valid, data_bytes=0)


def zeroed_tail(file: ProbeReader) -> dict[int, bytes]:
    """Return overlays that show zero bytes after a WAV's data chunk as JUNK chunks to the end.

    After the data chunk libav reads on for tags, and takes each 8 zero bytes for an empty
    chunk, seeking to the next: about 7 MB/s (ffprobe alike). A recorder's preallocated
    file, or a WAV past 4 GiB whose wrapped sizes end the data early in silence, then
    outlasts the probe timeout (400 MB of zeros: `timeout` for a sound file). Shown one
    chunk that reaches the end (one per 4 GiB), libav stops there; the data and its facts
    are as before. Reads the chunk headers up to the data's end: ~4 of them.
    """
    form = _wave_form(file)
    if form is None:
        return {}
    offset, after_data, stated_64 = 12, False, 0
    for _ in range(MAX_BLOCKS):
        header = file.pread(offset, 8)
        if len(header) < 8:
            return {}
        if after_data and header == _EMPTY_CHUNK:
            return _junk_to_end(offset, file.size)
        kind, size = header[:4], int.from_bytes(header[4:], "little")
        if kind == b"ds64":
            stated_64 = _ds64_data_size(file, form, offset + 8, size)
        elif kind == b"data":
            size = _data_size(size, stated_64)
            if size in _UNKNOWN_SIZES:
                return {}  # the data runs to the end: libav looks no further
            after_data = True
        offset += 8 + size + (size & 1)
    return {}


def _junk_to_end(offset: int, size: int) -> dict[int, bytes]:
    overlays: dict[int, bytes] = {}
    while offset + 8 < size:
        span = min(size - offset - 8, _JUNK_SPAN) & ~1
        overlays[offset] = b"JUNK" + span.to_bytes(4, "little")
        offset += 8 + span
    return overlays
