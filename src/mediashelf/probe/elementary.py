"""Elementary audio streams carry no file header: a run of frames is what proves one.

MP3 (and MP1/MP2), AAC in ADTS, AC-3, E-AC-3, DTS and GSM files are their codec's frames one
after another, with nothing in front but tags. libav reads such a file with the demuxer its
extension (or a lucky guess) names, from the first place that looks like a frame, and random
bytes have such places: of 1-3 MB of random bytes, libav read one file in six under .mp3 or
.aac as a two-minute MP3 or an 8-channel AAC, ffprobe (the chain's fallback) five in six
under .ac3 as E-AC-3, and every one under .gsm; each was stored as a healthy track. A real
stream is a run of frames, each starting where its predecessor's length says, with the same
stream parameters. A file in which no run of `RUN` frames (or a shorter one that ends the
file) starts within `SEARCH` bytes after its leading tags is not media.

Random bytes make such a run with a probability far below one in a billion: each further
frame needs its 11-16 sync bits and its parameters at one exact offset. GSM frames have only
a 4-bit mark, so a GSM run starts at the file's first byte and is `GSM_RUN` frames long. DTS
core frames may be followed by extension substreams, so a DTS run is `RUN` core sync words of
one kind (32 bits each, a DTS-HD substream's where there is no core) rather than a chain of
lengths. AMR has a magic, which libav checks, and then frames sized by their first byte: a
file overwritten but for its magic read as 1,165 s of speech, so its frames are chained too.

Reads what libav read first (the start of the audio, page-cache hot): 16 KB for a real
file, up to `SEARCH` only for one that is not. Applied after either backend
(probe/corrections.py).

An ADTS file is also timed by its frames: libav (and ffprobe) divide its size by a bitrate
read from its first frames, and AAC encoders vary the frame size (394.05 s for a 392.05 s
file from ffmpeg's encoder at 192 kbit/s). Its frames are walked to the end of the audio
(7 header bytes in every ~0.5 KB, no decoding; the whole file is read); a last frame cut
short does not count. Where the walk cannot reach the end, or would take over a second,
libav's estimate stays. An AMR file likewise: libav divides its size by a bitrate that
leaves out each frame's table-of-contents byte (3.097 s for 3 s); its frames, 20 ms each,
are counted by their first bytes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from mediashelf.errors import ProbeCorrupt
from mediashelf.probe.covers import ID3_HEADER, id3v2_end
from mediashelf.probe.mpeg_audio import parse_header
from mediashelf.probe.reader import ProbeReader
from mediashelf.probe.result import ProbeResult

RUN = 6
# Demuxers whose duration libav estimates in proportion to the bytes after the leading tags
# (measured: an 8 s AAC behind a 1.2 MB APEv2 cover "lasts" 141 s, AC-3 108 s, DTS 15 s).
SIZE_TIMED = frozenset({"aac", "ac3", "eac3", "dts", "gsm"})
GSM_RUN = 32
GSM_FRAME = 33
AMR_RUN = 32
# AMR's magic -> its frame types' sizes in bytes, the table-of-contents byte included; the
# reserved types are missing (15: no data; 14 in AMR-WB: speech lost).
_AMR_SIZES = {
    b"#!AMR\n": dict(enumerate((13, 14, 16, 18, 20, 21, 27, 32, 6))) | {15: 1},
    b"#!AMR-WB\n": dict(enumerate((18, 24, 33, 37, 41, 47, 51, 59, 61, 6))) | {14: 1, 15: 1},
}
SEARCH = 1 << 20  # the audio must start within this many bytes after the leading tags
MAX_CANDIDATES = 50_000  # places that start like a frame, tried before giving up (~50 ms)
_FIRST_READ = 16 * 1024
_MAX_FRAME = 16 * 1024  # the longest frame of these codecs (DTS), so a run at SEARCH fits
_APE, _APE_HEADER, _ID3V1 = b"APETAGEX", 32, 128
_MAX_TAGS = 16  # tags stacked at the end
_TRAILING = (b"TAG", _APE, b"LYRICS", b"ID3")  # tags that may follow the last frame
_SHORT_TAIL = 1024  # bytes of anything a run shorter than RUN may leave before the end
_DTS_SYNCS = (
    bytes.fromhex("7ffe8001"),  # big-endian, 16-bit words
    bytes.fromhex("fe7f0180"),  # little-endian, 16-bit words
    bytes.fromhex("1fffe800"),  # big-endian, 14-bit words
    bytes.fromhex("ff1f00e8"),  # little-endian, 14-bit words
    bytes.fromhex("64582025"),  # a DTS-HD substream, in a stream without a core
)

# (frame length in bytes, parameters every frame of one stream shares), or None
Frame = tuple[int, object] | None
# (data from the audio's start, where a new search may begin, whether data ends the file)
# -> where in data the first run starts, or None
RunSearch = Callable[[bytes, int, bool], int | None]
_AC3_KBPS = (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512, 576,
             640)  # fmt: skip
_AAC_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000,
              7350)  # fmt: skip
_CHUNK = 1 << 20  # bytes per read while walking frames
_ADTS_MAX_FRAME = 8191  # its 13-bit length field
_ADTS_MAX_FRAMES = 1 << 21  # ~1.3 s of walking; more (12 h at 44.1 kHz) keeps libav's estimate
_AMR_MAX_FRAMES = 1 << 21  # 11.6 h of speech; a longer file keeps libav's estimate
_AMR_MAX_FRAME = 61  # bytes of AMR-WB's largest frame (23.85 kbit/s)
AMR_FRAME_S = 0.02  # every AMR frame (speech, silence, no data) is 20 ms


def checked_stream(path: Path, result: ProbeResult) -> ProbeResult:
    """Return `result` when `path` holds the frames its demuxer names; raise ProbeCorrupt if not.

    Only for the elementary-stream demuxers; every other container has a header libav checks.
    A file that cannot be read here is left to what the backend found. Where tags follow the
    audio, a duration libav estimated from the file's size is scaled to the audio's bytes
    (MP3s are timed by their own frames instead: probe/mp3_frames.py).
    """
    container = result.container or ""
    if container not in _RUNS:
        return result
    try:
        with ProbeReader(path) as file:  # no readahead past what is read
            start = audio_start(file)
            found = first_run(file, start, container)
            end = audio_end(file) if container in SIZE_TIMED else file.size
            walked = None if found is None else _walked(file, container, found, end)
    except OSError:
        return result
    if found is None:
        raise ProbeCorrupt(
            f"Not a media file: no run of {container} frames where the audio should start "
            "(random or damaged bytes under an audio name).",
            settled=True,
        )
    size = result.size_bytes
    if walked is not None and size:  # ADTS, AMR: timed by their frames
        seconds, audio_bytes = walked
        return replace(result, duration=round(seconds, 6), bitrate=round(size * 8 / seconds),
                       audio_bitrate=round(audio_bytes * 8 / seconds))  # fmt: skip
    if not size or not result.duration or end >= size or end <= start:
        return result  # no tags after the audio, or a tag's size that swallows the audio
    seconds = round(result.duration * (end - start) / (size - start), 6)
    return replace(result, duration=seconds, bitrate=round(size * 8 / seconds))


def _walked(file: ProbeReader, container: str, start: int, end: int) -> tuple[float, int] | None:
    if container == "aac":
        return adts_frames(file, start, end)
    if container == "amr":
        return amr_frames(file)
    return None


def amr_frames(file: ProbeReader) -> tuple[float, int] | None:
    """Return (seconds, bytes) of an AMR file's frames, or None when they do not run to its end
    (damage, another flavour, more than a frame's bytes of anything after them)."""
    magic = next((m for m in _AMR_SIZES if file.pread(0, 9).startswith(m)), None)
    if magic is None:
        return None
    sizes, frames = _AMR_SIZES[magic], 0
    offset = base = len(magic)
    buffer = b""
    for _ in range(_AMR_MAX_FRAMES):
        at = offset - base
        if at >= len(buffer):
            buffer, base, at = file.pread(offset, _CHUNK), offset, 0
            if not buffer:
                break
        toc = buffer[at]
        size = sizes.get(toc >> 3 & 0x0F) if not toc & 0x83 else None
        if size is None or offset + size > file.size:
            break
        frames, offset = frames + 1, offset + size
    if not frames or file.size - offset >= _AMR_MAX_FRAME:
        return None
    return frames * AMR_FRAME_S, offset - len(magic)


def adts_frames(file: ProbeReader, start: int, end: int) -> tuple[float, int] | None:
    """Return (seconds, bytes) of the ADTS frames from `start` to `end`, or None when they
    do not chain that far (damage, another stream, more than a frame of anything after)."""
    head = file.pread(start, 7)
    first = _adts(head)
    if first is None:
        return None
    blocks, offset = _walk_adts(file, start, end, first[1])
    if not blocks or end - offset > _ADTS_MAX_FRAME:
        return None  # not the end of the audio: damage, another stream, or too many frames
    return blocks * 1024 / _AAC_RATES[(head[2] >> 2) & 0x0F], offset - start


def _walk_adts(file: ProbeReader, start: int, end: int, params: object) -> tuple[int, int]:
    """Return the raw data blocks (1,024 samples each) of the whole frames chained from
    `start`, and where the chain stops. The header is read in place: ~0.65 µs a frame."""
    blocks, offset, buffer, base = 0, start, b"", start
    for _ in range(_ADTS_MAX_FRAMES):
        at = offset - base
        if at + 7 > len(buffer):
            buffer, base, at = file.pread(offset, min(_CHUNK, end - offset)), offset, 0
            if len(buffer) < 7:
                break
        b1, b2, b3 = buffer[at + 1], buffer[at + 2], buffer[at + 3]
        if buffer[at] != 0xFF or (b1, b2 & 0xFD, b3 >> 6) != params:
            break
        length = ((b3 & 0x03) << 11) | (buffer[at + 4] << 3) | (buffer[at + 5] >> 5)
        if length < 7 or offset + length > end:
            break
        blocks += (buffer[at + 6] & 0x03) + 1
        offset += length
    return blocks, offset


def first_run(file: ProbeReader, start: int, container: str) -> int | None:
    """Return where the first run of `container`'s frames after the leading tags (which end
    at `start`) begins.

    An ID3v2 tag whose size was written as a plain number instead of a syncsafe one (a
    tagger's bug; libav then skips it by resynchronising) hides the audio behind the tag's
    true length: where no run starts after the tags as read, one may start there.
    """
    found = find_run(file, start, container)
    if found is None:
        head = file.pread(0, ID3_HEADER)
        if head.startswith(b"ID3") and id3v2_end(file) == 0:
            found = find_run(file, ID3_HEADER + int.from_bytes(head[6:10], "big"), container)
    return found


def find_run(file: ProbeReader, start: int, container: str) -> int | None:
    """Return where the first run of `container`'s frames at or after `start` begins, or None.

    Reads from `start`, more only while no run is found, up to SEARCH bytes on.
    """
    run_in = _RUNS[container]
    wanted, most, scanned = _FIRST_READ, SEARCH + _MAX_FRAME * RUN, 0
    while True:
        data = file.pread(start, wanted)
        at_end = start + len(data) >= file.size
        found = run_in(data, scanned, at_end)
        if found is not None:
            return start + found
        if at_end or wanted >= most:
            return None
        # What started more than a run's length before the end was judged on whole frames.
        scanned = max(0, len(data) - _MAX_FRAME * RUN)
        wanted = min(wanted * 4, most)


def audio_start(file: ProbeReader) -> int:
    """Return where the audio may start: after the ID3v2 tags and an APEv2 tag at the start."""
    start = id3v2_end(file)
    head = file.pread(start, _APE_HEADER)
    if head.startswith(_APE) and len(head) == _APE_HEADER:
        start += int.from_bytes(head[12:16], "little") + _APE_HEADER
    return start


def audio_end(file: ProbeReader) -> int:
    """Return where the audio ends: before the tags at the end (ID3v1, APEv2, Lyrics3v2, an
    ID3v2 tag with a footer), in whatever order taggers stacked them.

    Taggers (foobar2000, MP3Gain) append APEv2 tags, and one may hold cover art: megabytes
    that libav counts as audio when it times a file by its size.
    """
    end = file.size
    for _ in range(_MAX_TAGS):
        tail = file.pread(max(0, end - _ID3V1), min(end, _ID3V1))
        tag = _trailing_tag(tail)
        if not tag or tag > end:
            return end
        end -= tag
    return end


def _trailing_tag(tail: bytes) -> int:
    """Return the length of the tag `tail` (up to 128 bytes before the audio's end) ends with."""
    if len(tail) == _ID3V1 and tail.startswith(b"TAG"):
        return _ID3V1
    if tail[-_APE_HEADER:].startswith(_APE):
        footer = tail[-_APE_HEADER:]
        has_header = int.from_bytes(footer[20:24], "little") >> 31
        return int.from_bytes(footer[12:16], "little") + _APE_HEADER * has_header
    if tail.endswith(b"LYRICS200") and tail[-15:-9].isdigit():  # Lyrics3v2: size, then marker
        return int(tail[-15:-9]) + 15
    footer = tail[-ID3_HEADER:]
    if footer.startswith(b"3DI") and not any(b & 0x80 for b in footer[6:10]):  # ID3v2.4 footer
        size = (footer[6] << 21) | (footer[7] << 14) | (footer[8] << 7) | footer[9]
        return size + 2 * ID3_HEADER  # header, frames, footer
    return 0


def _chained(reader: Callable[[bytes], Frame], sync: bytes) -> RunSearch:
    """Return the search for a codec whose frames state their length: a chain of RUN frames.

    `sync` is a pattern of a header's first bytes, so that a run of filler (0xFF) is skipped
    at C speed rather than tried byte by byte.
    """
    pattern = re.compile(sync)

    def run_in(data: bytes, scanned: int, at_end: bool) -> int | None:
        for tried, match in enumerate(pattern.finditer(data, scanned, SEARCH)):
            if tried >= MAX_CANDIDATES:
                break  # a megabyte of header-like bytes and no frames: crafted
            if _run_from(data, match.start(), reader, at_end):
                return match.start()
        return None

    return run_in


def _run_from(data: bytes, at: int, reader: Callable[[bytes], Frame], at_end: bool) -> bool:
    """Tell whether the frames chained from `at` make a run: RUN of them, or 2+ ending the file.

    A frame running past `data` ends the file when `data` is the file's end (a cut last
    frame); otherwise more of the file is needed and the caller reads it.
    """
    frames, params = 0, None
    while frames < RUN:
        frame = reader(data[at : at + 16])
        if frame is None or (params is not None and frame[1] != params):
            return at_end and _ends_file(data[at:], frames)
        length, params = frame
        if at + length > len(data):
            return at_end and frames >= 2
        frames, at = frames + 1, at + length
    return True


def _ends_file(rest: bytes, frames: int) -> bool:
    """Tell whether `rest`, after a short run of `frames`, may end a real file: nothing, a tag
    or padding after two frames; after three, also a little of anything (a tool's trailer)."""
    if frames >= 2 and (not rest or rest.startswith(_TRAILING) or not rest.strip(b"\x00")):
        return True
    return frames >= 3 and len(rest) <= _SHORT_TAIL


def _gsm_run(data: bytes, _scanned: int, at_end: bool) -> int | None:
    """GSM 06.10 frames from the first byte: 33 bytes each, starting with the mark 0xD."""
    frames = min(len(data) // GSM_FRAME, GSM_RUN)
    marked = all(data[i * GSM_FRAME] >> 4 == 0xD for i in range(frames))
    return 0 if marked and (frames >= GSM_RUN or (at_end and frames >= 2)) else None


def _dts_run(data: bytes, _scanned: int, at_end: bool) -> int | None:
    """RUN core sync words of one kind, the first within SEARCH, each within a few frames of
    the one before (extension substreams sit between them)."""
    for sync in _DTS_SYNCS:
        first = at = data.find(sync, 0, SEARCH)
        count = 1 if at >= 0 else 0
        while 0 < count < RUN:
            following = data.find(sync, at + 4, at + 4 + 4 * _MAX_FRAME)
            if following < 0:
                break
            count, at = count + 1, following
        if count >= RUN or (at_end and count >= 2 and len(data) - at <= 4 * _MAX_FRAME):
            return first
    return None


def _amr_run(data: bytes, _scanned: int, at_end: bool) -> int | None:
    """AMR storage format: after its magic, frames whose table-of-contents byte (padding bits
    zero) names a frame type, and with it the frame's size."""
    magic = next((m for m in _AMR_SIZES if data.startswith(m)), None)
    if magic is None:
        return 0  # another flavour (multichannel): libav's own header check stands
    sizes, at, frames = _AMR_SIZES[magic], len(magic), 0
    while frames < AMR_RUN and at < len(data):
        toc = data[at]
        size = sizes.get(toc >> 3 & 0x0F) if not toc & 0x83 else None
        if size is None:
            break
        frames, at = frames + 1, at + size
    return 0 if frames >= AMR_RUN or (at_end and frames >= 2 and at >= len(data)) else None


def _mpeg_audio(head: bytes) -> Frame:
    frame = parse_header(head[:4])
    return None if frame is None else (frame.length, frame.stream)


def _adts(head: bytes) -> Frame:
    """An ADTS header: 12 sync bits, layer 0, a frame length that holds at least the header."""
    if len(head) < 7 or head[0] != 0xFF or head[1] & 0xF6 != 0xF0:
        return None
    if (head[2] >> 2) & 0x0F > 12:  # sampling frequency index
        return None
    length = ((head[3] & 0x03) << 11) | (head[4] << 3) | (head[5] >> 5)
    if length <= (7 if head[1] & 1 else 9):
        return None
    return length, (head[1], head[2] & 0xFD, head[3] >> 6)


_DOLBY = "ac3"  # one stream may mix both: Blu-ray's 7.1 is an AC-3 core + E-AC-3 extension


def _ac3(head: bytes) -> Frame:
    """An AC-3 or E-AC-3 sync frame: 0x0B77, then a size from the rate table or stated."""
    if len(head) < 6 or head[0] != 0x0B or head[1] != 0x77:
        return None
    bsid = head[5] >> 3
    if bsid <= 10:  # AC-3: the size follows from the sample rate and bitrate codes
        rate_code, size_code = head[4] >> 6, head[4] & 0x3F
        if rate_code == 3 or size_code >= 2 * len(_AC3_KBPS):
            return None
        kbps = _AC3_KBPS[size_code // 2]
        words = (kbps * 2, kbps * 32000 // 14700 + (size_code & 1), kbps * 3)[rate_code]
        return words * 2, _DOLBY
    if bsid <= 16 and head[2] >> 6 != 3:  # E-AC-3: the size is stated, in 16-bit words - 1
        return (((head[2] & 0x07) << 8) | head[3]) * 2 + 2, _DOLBY
    return None


_RUNS: dict[str, RunSearch] = {
    # libav's "mp3" demuxer reads MP1 and MP2 too; a bitrate index of 15 is never valid
    "mp3": _chained(_mpeg_audio, rb"\xff[\xe0-\xff][\x00-\xef]"),
    "aac": _chained(_adts, rb"\xff[\xf0\xf1\xf8\xf9]"),  # 12 sync bits, layer 0
    "ac3": _chained(_ac3, rb"\x0b\x77"),
    "eac3": _chained(_ac3, rb"\x0b\x77"),
    "dts": _dts_run,
    "gsm": _gsm_run,
    "amr": _amr_run,
}
