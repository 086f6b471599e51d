"""The duration of a Matroska file that states none, measured from its last cluster.

A Matroska muxer writes the Segment's Duration when it finishes, by seeking back to the
header. A file written to a pipe or a stream (`ffmpeg ... -f matroska -`, a live capture) or
one whose recorder stopped before finishing has none. libav then either reports no duration
or, in some configurations, divides the file's size by the bitrates it knows (often the
audio's alone) and reports that: 57 s for a 4 s clip. Both backends did the same; the stored
duration was wrong or missing.

Such a file is timed here the way Matroska tools do: from the last block's timestamp in the
last cluster (plus that block's duration, or its track's default duration), minus the first
cluster's timestamp. Only the header (64 KB) and the tail (up to 16 MB, read backwards in
1 MB steps until a cluster is found) are read. A file that states its Duration is left as
libav read it; anything the walk cannot make sense of leaves the result unchanged as well,
except that a duration libav could only have estimated is then unknown, not a guess.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from mediashelf.probe.reader import ProbeReader
from mediashelf.probe.result import ProbeResult

HEAD = 64 * 1024
TAIL_STEP = 1 << 20
TAIL_MAX = 16 << 20
EBML_MAGIC = b"\x1a\x45\xdf\xa3"
SEGMENT, INFO, TRACKS, CLUSTER = 0x18538067, 0x1549A966, 0x1654AE6B, 0x1F43B675
CLUSTER_ID = CLUSTER.to_bytes(4, "big")
TIMESTAMP_SCALE, DURATION, TIMESTAMP = 0x2AD7B1, 0x4489, 0xE7
TRACK_ENTRY, TRACK_NUMBER, DEFAULT_DURATION = 0xAE, 0xD7, 0x23E383
SIMPLE_BLOCK, BLOCK_GROUP, BLOCK, BLOCK_DURATION = 0xA3, 0xA0, 0xA1, 0x9B
SKIPPED = frozenset({0xBF, 0xEC})  # CRC-32, Void
DEFAULT_SCALE = 1_000_000  # ns per timestamp tick
MAX_ELEMENTS = 4096  # elements of one parent walked (a cluster of a few seconds has hundreds)
MAX_CANDIDATES = 32  # cluster IDs in the tail tried as clusters (hostile files repeat them)


@dataclass
class _Header:
    """What the header says: the tick length, whether a Duration is stated, tracks' frame time."""

    scale: int = DEFAULT_SCALE
    states_duration: bool = False
    default_ns: dict[int, int] = field(default_factory=dict)  # track number -> ns per frame
    first_ticks: int | None = None  # the first cluster's timestamp, where the head holds it


def timed_matroska(path: Path, result: ProbeResult) -> ProbeResult:
    """Return `result` with the measured duration when `path` is Matroska stating none."""
    if "matroska" not in (result.container or "") or not result.size_bytes:
        return result
    try:
        with ProbeReader(path) as file:  # random-access advice: no read-ahead past what is read
            header = _header(file.pread(0, HEAD))
            if header is None or header.states_duration:
                return result
            last = _last_end(file, file.size, header)
    except OSError:
        return result
    first = header.first_ticks or 0  # not in the head (megabytes of attachments): from 0
    if last is None or last <= first:
        return replace(result, duration=None, bitrate=None)  # libav's figure was a guess
    seconds = round((last - first) * header.scale / 1e9, 6)
    return replace(result, duration=seconds, bitrate=round(result.size_bytes * 8 / seconds))


# --------------------------------------------------------------------------- EBML


def _vint(data: bytes, at: int, keep_marker: bool) -> tuple[int, int] | None:
    """Read an EBML variable-length integer at `at`: (value, length), None if cut or invalid.

    An all-ones size ("unknown") is returned as -1.
    """
    if at >= len(data) or data[at] == 0:
        return None
    length = 9 - data[at].bit_length()
    if length > 8 or at + length > len(data):
        return None
    value = int.from_bytes(data[at : at + length], "big")
    if keep_marker:
        return value, length
    value &= (1 << (7 * length)) - 1
    return (-1 if value == (1 << (7 * length)) - 1 else value), length


def _elements(
    data: bytes, start: int, end: int, limit: int = MAX_ELEMENTS
) -> list[tuple[int, int, int]]:
    """Return (id, data start, data end) of the elements from `start` to `end` (cut at data)."""
    found: list[tuple[int, int, int]] = []
    at = start
    while at < end and len(found) < limit:
        ident, size = _vint(data, at, keep_marker=True), None
        if ident is not None:
            size = _vint(data, at + ident[1], keep_marker=False)
        if ident is None or size is None:
            break
        begin = at + ident[1] + size[1]
        stop = len(data) if size[0] < 0 else begin + size[0]
        found.append((ident[0], begin, min(stop, len(data))))
        if size[0] < 0 or stop > end:
            break  # an element of unknown size, or one running past what was read: the last
        at = stop
    return found


def _uint(data: bytes, begin: int, end: int) -> int | None:
    return int.from_bytes(data[begin:end], "big") if 0 < end - begin <= 8 else None


def _header(head: bytes) -> _Header | None:
    """Parse the EBML header, the Segment's Info and Tracks, and the first cluster's timestamp."""
    if not head.startswith(EBML_MAGIC):
        return None
    top = _elements(head, 0, len(head))
    segment = next(((b, e) for ident, b, e in top if ident == SEGMENT), None)
    if segment is None:
        return None
    header, seen_info = _Header(), False
    for ident, begin, end in _elements(head, *segment):
        if ident == INFO:
            seen_info = True
            for child, b, e in _elements(head, begin, end):
                if child == TIMESTAMP_SCALE:
                    header.scale = _uint(head, b, e) or DEFAULT_SCALE
                elif child == DURATION:
                    header.states_duration = True
        elif ident == TRACKS:
            header.default_ns.update(_default_durations(head, begin, end))
        elif ident == CLUSTER:
            header.first_ticks = _cluster_timestamp(head, begin, end)
            break
    return header if seen_info else None


def _default_durations(data: bytes, begin: int, end: int) -> dict[int, int]:
    found: dict[int, int] = {}
    for ident, b, e in _elements(data, begin, end):
        if ident != TRACK_ENTRY:
            continue
        values = {child: _uint(data, cb, ce) for child, cb, ce in _elements(data, b, e)}
        number, default = values.get(TRACK_NUMBER), values.get(DEFAULT_DURATION)
        if number is not None and default:
            found[number] = default
    return found


def _cluster_timestamp(data: bytes, begin: int, end: int) -> int | None:
    """Return a cluster's Timestamp: its first element, after a CRC-32 or Void at most."""
    for ident, b, e in _elements(data, begin, end)[:3]:
        if ident == TIMESTAMP:
            return _uint(data, b, e)
        if ident not in SKIPPED:
            return None
    return None


# --------------------------------------------------------------------------- the last cluster


def _last_end(file: ProbeReader, size: int, header: _Header) -> int | None:
    """Return the end of the last block, in ticks, from the last cluster that parses.

    The tail is read backwards a step at a time, each byte once; only cluster IDs that start
    in the step just read are tried (those after it were tried before), at most
    MAX_CANDIDATES in all.
    """
    tail, start, tried = b"", size, 0
    while start > 0 and size - start < TAIL_MAX and tried < MAX_CANDIDATES:
        step_start = max(0, start - TAIL_STEP)
        step = file.pread(step_start, start - step_start)
        tail, start = step + tail, step_start
        at = len(step) + len(CLUSTER_ID) - 1  # IDs starting in this step, across its end too
        while tried < MAX_CANDIDATES and (at := tail.rfind(CLUSTER_ID, 0, at)) >= 0:
            tried += 1
            end = _cluster_end(tail, at, header)
            if end is not None:
                return end
    return None


def _cluster_end(data: bytes, at: int, header: _Header) -> int | None:
    """Return the end of the last block of the cluster at `at`, or None if it is not one."""
    cluster = _elements(data, at, len(data), limit=1)
    if not cluster or cluster[0][0] != CLUSTER:
        return None
    children = _elements(data, cluster[0][1], cluster[0][2])
    base = _cluster_timestamp(data, cluster[0][1], cluster[0][2])
    if base is None:
        return None
    ends = [_block_end(data, ident, begin, end, header) for ident, begin, end in children]
    known = [end for end in ends if end is not None]
    return base + max(known) if known else None


def _block_end(data: bytes, ident: int, begin: int, end: int, header: _Header) -> int | None:
    """Return a block's end relative to its cluster, in ticks; None for other elements."""
    duration: int | None = None
    if ident == BLOCK_GROUP:
        inner = {child: (b, e) for child, b, e in _elements(data, begin, end)}
        if BLOCK not in inner:
            return None
        if BLOCK_DURATION in inner:
            duration = _uint(data, *inner[BLOCK_DURATION])
        begin, end = inner[BLOCK]
    elif ident != SIMPLE_BLOCK:
        return None
    track = _vint(data, begin, keep_marker=False)
    if track is None or begin + track[1] + 2 > end:
        return None
    at = begin + track[1]
    relative = int.from_bytes(data[at : at + 2], "big", signed=True)
    if duration is None:
        duration = header.default_ns.get(track[0], 0) // header.scale
    return relative + duration
