"""Two facts of Matroska files that libav gets wrong, read from the file's own elements.

1. The duration of a file that states none, measured from its first and last clusters.

A Matroska muxer writes the Segment's Duration when it finishes, by seeking back to the
header. A file written to a pipe or a stream (`ffmpeg ... -f matroska -`, a live capture) or
one whose recorder stopped before finishing has none. libav then either reports no duration
or, in some configurations, divides the file's size by the bitrates it knows (often the
audio's alone) and reports that: 57 s for a 4 s clip. Both backends did the same; the stored
duration was wrong or missing.

Such a file is timed here the way Matroska tools do: from the first cluster's timestamp to
the end of the latest block of the last two clusters (its BlockDuration, else its frames
times its track's default duration, else times the spacing of that track's blocks before
it). Only the
header (64 KB, then a hop from element to element if the first cluster lies beyond it) and
the tail (up to 16 MB, read backwards in 1 MB steps until a cluster parses) are read, and at
most BUDGET elements are parsed in all, however the file nests them. A file that states its
Duration is left as libav read it. A file with no cluster to time, or whose timing would
mean less than MIN_BITRATE, gets an unknown duration: libav's figure was a guess.

Not covered (the Segment Duration a finishing muxer writes would cover them): a block that
ends after the last two clusters' blocks (a long subtitle event in an earlier cluster), and a
last cluster starting more than 16 MB before the end.

2. A cover picture muxed as the file's only video track. `ffmpeg -i song.flac -i cover.jpg
-c:v mjpeg song.mka` writes the picture as a plain MJPEG track with a default duration:
libav states no frame count and a frame rate (25), so every backend took the cover for 25 fps
video. A motion-JPEG film has a block every frame; a cover has one. When the only video
track of a file with sound has one block in the first cluster while the other
tracks' blocks there span a second or more (and one and a half of the track's stated frame
intervals: a 0.5 fps slideshow's next picture comes 2 s on), the file has no video.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NamedTuple

from mediashelf.probe import ebml
from mediashelf.probe.normalize import PICTURE_CODECS
from mediashelf.probe.reader import ProbeReader
from mediashelf.probe.result import ProbeResult

HEAD = 64 * 1024
TAIL_STEP = 1 << 20
TAIL_MAX = 16 << 20
INFO, TRACKS = 0x1549A966, 0x1654AE6B
CLUSTER_ID = ebml.CLUSTER.to_bytes(4, "big")
TIMESTAMP_SCALE, DURATION, TIMESTAMP = 0x2AD7B1, 0x4489, 0xE7
TRACK_ENTRY, TRACK_NUMBER, TRACK_TYPE, DEFAULT_DURATION = 0xAE, 0xD7, 0x83, 0x23E383
VIDEO_TRACK = 1
SIMPLE_BLOCK, BLOCK_GROUP, BLOCK, BLOCK_DURATION = 0xA3, 0xA0, 0xA1, 0x9B
DEFAULT_SCALE = 1_000_000  # ns per timestamp tick
MAX_CHILDREN = 1 << 15  # elements of one parent (a cluster of PCM in small blocks has thousands)
BUDGET = 1 << 16  # elements parsed for one file in all (~0.1 s at most)
MAX_CANDIDATES = 32  # cluster IDs in the tail tried as clusters (hostile files repeat them)
MAX_HOPS = 64  # top-level elements hopped over to find a first cluster beyond the head
ELEMENT_HEAD = 12  # bytes that hold any element's ID and size
MIN_BITRATE = 500  # bit/s: a measured length that means less than this is not believed
MAX_COVER_HOPS = 512  # blocks of the first cluster looked at for the cover test (~1 ms)
BLOCK_HEAD = 32  # bytes that hold a block's (or a block group's first block's) header


class _Exhausted(Exception):
    """The file made the walk parse more than BUDGET elements."""


class _Element(NamedTuple):
    ident: int
    begin: int  # where its data starts
    end: int  # where its data ends, or where the bytes at hand end
    stop: int | None  # where the element ends as it declares (None: unknown size)


@dataclass
class _Walk:
    """What is known of one file while it is walked, and what the walk may still parse."""

    budget: int = BUDGET
    scale: int = DEFAULT_SCALE
    states_duration: bool = False
    default_ticks: dict[int, float] = field(default_factory=dict)  # track -> ticks per frame
    first_ticks: int | None = None  # the first cluster's timestamp
    first_cluster: tuple[int, int | None] | None = None  # where its data starts and stops
    resume_at: int | None = None  # where the Segment's next element starts, past the head
    video_tracks: set[int] = field(default_factory=set)

    def elements(
        self, data: bytes, start: int, end: int, limit: int = MAX_CHILDREN
    ) -> list[_Element]:
        """Return the elements from `start` to `end` in `data`, cut where `data` ends."""
        found: list[_Element] = []
        at = start
        while at < end and len(found) < limit:
            header = ebml.element_header(data, at)
            if header is None:
                break
            self.budget -= 1
            if self.budget < 0:
                raise _Exhausted
            ident, size, length = header
            begin = at + length
            stop = None if size is None else begin + size
            found.append(_Element(ident, begin, min(stop or len(data), len(data)), stop))
            if stop is None or stop > end:
                break  # unknown size, or running past what is at hand: the last one here
            at = stop
        return found


def matroska_facts(path: Path, result: ProbeResult) -> ProbeResult:
    """Return `result` with the measured duration when `path` is Matroska stating none, and
    without video when its only video track is a cover picture."""
    size = result.size_bytes
    if "matroska" not in (result.container or "") or not size:
        return result
    walk = _Walk()
    may_be_cover = result.has_video and result.has_audio and result.video_codec in PICTURE_CODECS
    try:
        with ProbeReader(path) as file:  # random-access advice: no read-ahead past what is read
            if not _read_header(walk, file.pread(0, HEAD)):
                return result
            if walk.states_duration and not may_be_cover:
                return result
            first = _first_cluster_ticks(walk, file)
            cover = may_be_cover and _cover_track(walk, file)
            if walk.states_duration:
                return _without_video(result) if cover else result
            last = _last_end(walk, file)
    except OSError:
        return result
    except _Exhausted:  # more elements than any recording has: nothing to believe
        first, last, cover = 0, None, False
    result = _without_video(result) if cover else result
    seconds = round((last - first) * walk.scale / 1e9, 6) if last is not None else 0.0
    if not seconds > 0 or size * 8 / seconds < MIN_BITRATE:
        return replace(result, duration=None, bitrate=None)  # libav's figure was a guess
    return replace(result, duration=seconds, bitrate=round(size * 8 / seconds))


def _without_video(result: ProbeResult) -> ProbeResult:
    return replace(result, has_video=False, width=None, height=None, video_codec=None,
                   video_fps=None, video_bitrate=None)  # fmt: skip


# --------------------------------------------------------------------------- EBML


def _uint(data: bytes, element: _Element) -> int | None:
    width = element.end - element.begin
    return int.from_bytes(data[element.begin : element.end], "big") if 0 < width <= 8 else None


# --------------------------------------------------------------------------- the header


def _read_header(walk: _Walk, head: bytes) -> bool:
    """Read Info, Tracks and the first cluster's timestamp from the head; False if no Info."""
    if not head.startswith(ebml.MAGIC):
        return False
    segment = next((e for e in walk.elements(head, 0, len(head)) if e.ident == ebml.SEGMENT), None)
    if segment is None:
        return False
    seen_info = False
    children = walk.elements(head, segment.begin, segment.end)
    for element in children:
        if element.ident == INFO:
            seen_info = True
            for child in walk.elements(head, element.begin, element.end):
                if child.ident == TIMESTAMP_SCALE:
                    walk.scale = _uint(head, child) or DEFAULT_SCALE
                elif child.ident == DURATION:
                    walk.states_duration = True
        elif element.ident == TRACKS:
            _read_tracks(walk, head, element)
        elif element.ident == ebml.CLUSTER:
            walk.first_ticks = _cluster_timestamp(walk, head, element)
            walk.first_cluster = (element.begin, element.stop)
            return seen_info
    walk.resume_at = children[-1].stop if children else None
    return seen_info


def _read_tracks(walk: _Walk, head: bytes, tracks: _Element) -> None:
    for entry in walk.elements(head, tracks.begin, tracks.end):
        if entry.ident != TRACK_ENTRY:
            continue
        values = {c.ident: _uint(head, c) for c in walk.elements(head, entry.begin, entry.end)}
        number, default_ns = values.get(TRACK_NUMBER), values.get(DEFAULT_DURATION)
        if number is not None and default_ns:
            walk.default_ticks[number] = default_ns / walk.scale
        if number is not None and values.get(TRACK_TYPE) == VIDEO_TRACK:
            walk.video_tracks.add(number)


def _cluster_timestamp(walk: _Walk, data: bytes, cluster: _Element) -> int | None:
    """Return a cluster's Timestamp: its first element, after a CRC-32 or Void at most."""
    for element in walk.elements(data, cluster.begin, cluster.end, limit=3):
        if element.ident == TIMESTAMP:
            return _uint(data, element)
        if element.ident not in ebml.SKIPPED:
            return None
    return None


def _first_cluster_ticks(walk: _Walk, file: ProbeReader) -> int:
    """Return the first cluster's timestamp: from the head, else hopping element to element.

    Megabytes of attachments (fonts, a cover) may lie between the tracks and the clusters.
    Where no cluster is found that way, the timestamps are taken to start at 0.
    """
    at = walk.resume_at
    for _ in range(MAX_HOPS):
        if walk.first_ticks is not None or at is None or at >= file.size:
            break
        element = next(iter(walk.elements(file.pread(at, ELEMENT_HEAD), 0, ELEMENT_HEAD, 1)), None)
        if element is None:
            break
        if element.ident == ebml.CLUSTER:
            data = file.pread(at, element.begin + ELEMENT_HEAD * 2)  # its header and Timestamp
            walk.first_ticks = _cluster_timestamp(walk, data, element._replace(end=len(data)))
            walk.first_cluster = (
                at + element.begin,
                None if element.stop is None else at + element.stop,
            )
            break
        at = None if element.stop is None else at + element.stop
    return walk.first_ticks or 0


# --------------------------------------------------------------------------- the last cluster


def _last_end(walk: _Walk, file: ProbeReader) -> float | None:
    """Return the end of the last block, in ticks, from the last cluster that parses and the
    one right before it when the tail read holds it.

    The tail is read backwards a step at a time, each byte once; only cluster IDs that start
    in the step just read are tried (those after it were tried before), at most
    MAX_CANDIDATES in all. The cluster before counts too: blocks are stored in decoding
    order, so with B-frames the latest frame may sit there (ffmpeg writing to a pipe cuts a
    cluster every 32 KB), and the last cluster alone read a frame short.
    """
    size = file.size
    tail, start, tried = b"", size, 0
    while start > 0 and size - start < TAIL_MAX and tried < MAX_CANDIDATES:
        step_start = max(0, start - TAIL_STEP)
        step = file.pread(step_start, start - step_start)
        tail, start = step + tail, step_start
        at = len(step) + len(CLUSTER_ID) - 1  # IDs starting in this step, across its end too
        while tried < MAX_CANDIDATES and (at := tail.rfind(CLUSTER_ID, 0, at)) >= 0:
            tried += 1
            end = _cluster_end(walk, tail, at)
            if end is not None:
                return max(end, _end_before(walk, tail, at))
    return None


def _end_before(walk: _Walk, data: bytes, at: int) -> float:
    """Return the end of the last block of the cluster ending exactly at `at` (0 if none)."""
    before = at
    for _ in range(MAX_CANDIDATES):
        before = data.rfind(CLUSTER_ID, 0, before)
        if before < 0:
            break
        end = _cluster_end(walk, data, before, ending_at=at)
        if end is not None:
            return end
    return 0.0


def _cluster_end(walk: _Walk, data: bytes, at: int, ending_at: int | None = None) -> float | None:
    """Return the end of the last block of the cluster at `at`, or None if it is not one (or
    does not end at `ending_at`, when given)."""
    cluster = next(iter(walk.elements(data, at, len(data), limit=1)), None)
    if cluster is None or cluster.ident != ebml.CLUSTER:
        return None
    if ending_at is not None and cluster.stop != ending_at:
        return None
    base = _cluster_timestamp(walk, data, cluster)
    if base is None:
        return None
    ends: list[float] = []
    previous: dict[int, tuple[int, int]] = {}  # track -> (its last block's time, frames)
    for element in walk.elements(data, cluster.begin, cluster.end):
        block = _block(walk, data, element)
        if block is None:
            continue
        track, relative, frames, duration = block
        if duration is None:
            per_frame = walk.default_ticks.get(track)
            if per_frame is None and track in previous:  # the spacing of this track's blocks
                before, before_frames = previous[track]
                per_frame = max(0, relative - before) / before_frames
            duration = frames * (per_frame or 0)
        previous[track] = (relative, frames)
        ends.append(relative + duration)
    return base + max(ends) if ends else None


def _block(
    walk: _Walk, data: bytes, element: _Element
) -> tuple[int, int, int, float | None] | None:
    """Return (track, time in its cluster, frames, duration or None) of a block element."""
    duration: float | None = None
    if element.ident == BLOCK_GROUP:
        inner = {child.ident: child for child in walk.elements(data, element.begin, element.end)}
        if BLOCK not in inner:
            return None
        if BLOCK_DURATION in inner:
            duration = _uint(data, inner[BLOCK_DURATION])
        element = inner[BLOCK]
    elif element.ident != SIMPLE_BLOCK:
        return None
    track = ebml.vint(data, element.begin, 8)
    at = element.begin + (track[1] if track else 0)
    if track is None or at + 3 > element.end:
        return None
    relative = int.from_bytes(data[at : at + 2], "big", signed=True)
    laced = data[at + 2] & 0x06
    frames = data[at + 3] + 1 if laced and at + 3 < element.end else 1
    return track[0], relative, frames, duration


# --------------------------------------------------------------------------- a cover track


def _cover_track(walk: _Walk, file: ProbeReader) -> bool:
    """Tell whether the only video track has one block in the first cluster, while the other
    tracks' blocks there span at least a second and 1.5 of its frame intervals.

    The cluster's blocks are visited by their headers (a cover's block is the size of the
    picture, hundreds of KB): one small read per block, at most MAX_COVER_HOPS.
    """
    if len(walk.video_tracks) != 1 or walk.first_cluster is None:
        return False
    (video,) = walk.video_tracks
    at, stop = walk.first_cluster
    end = file.size if stop is None else min(stop, file.size)
    # A slideshow's frames may be seconds apart (0.5 fps: its DefaultDuration says 2 s), so
    # the sound must outlast one and a half of them too: it was taken for a cover at 1 s.
    window = max(1e9 / walk.scale, 1.5 * walk.default_ticks.get(video, 0))
    pictures, times = 0, []
    for _ in range(MAX_COVER_HOPS):
        head = file.pread(at, BLOCK_HEAD) if at < end else b""
        element = next(iter(walk.elements(head, 0, len(head), limit=1)), None)
        if element is None or element.stop is None:
            break
        block = _block(walk, head, element)
        if block is not None and block[0] == video:
            pictures += 1
        elif block is not None:
            times.append(block[1])
        if pictures > 1:
            return False
        if times and max(times) - min(times) >= window:
            return pictures == 1  # none yet: a video track that starts late, not a cover
        at += element.stop
    return False
