"""A chained Ogg file lasts as long as all its chains, where libav times only the last one.

An Ogg stream may be several logical streams one after another: a recording of an Icecast
radio stream starts a new chain (new serial number, granule positions from 0 again) at each
song, and `cat a.ogg b.ogg` makes one too. libav (and ffprobe) take the duration from the
last page's granule position, so a 35 s recording of two songs "lasts" 15 s, the last
song's length.

A file whose last page has the first page's serial number is most likely one chain (or
streams multiplexed side by side, which libav times itself): its pages' sequence numbers rise
from the first page to the last. Files joined from one encoder that always writes the same
serial number (ffmpeg's bitexact output) break that only where a chain starts again at 0, so
a few pages spread over the file are read (a page header each, ~8 KB reads): any that counts
lower than one before it (the last page included) means chains. Otherwise, and when the last
page's serial number is another's, every page header is walked (27 bytes and the
segment table of each ~4-8 KB page; no audio is read) and the chains' durations are summed:
each chain's last granule position over its sample rate (Opus counts 48 kHz samples; its
pre-skip stays in, as libav counts it in a file of one chain), less its first audio page's
where that is far from 0 (a recording that joined a stream during a song; the first page's
own second or so is lost then). Only chains of Vorbis or Opus audio, each ending (EOS)
before the next begins (a serial number may come back, as `cat a.ogg a.ogg` makes it);
tags around the pages (ID3v2 before, ID3v1/APEv2 after) are stepped over; anything else, or
damage the walk cannot cross, leaves libav's figure.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from itertools import pairwise
from pathlib import Path

from mediashelf.probe.covers import id3v2_end
from mediashelf.probe.elementary import audio_end
from mediashelf.probe.reader import ProbeReader
from mediashelf.probe.result import ProbeResult

_HEADER = 27  # "OggS", version, flags, granule (8), serial (4), sequence (4), CRC (4), segments
_STEP = 8 * 1024  # read back from the end this much at a time to find the last page
_PAGE_HEAD = _HEADER + 255  # a page's header with the longest segment table
_MAX_PAGE = _PAGE_HEAD + 255 * 255
_CHUNK = 1 << 20  # bytes per read while walking pages
# A chain whose first audio page ends later than this joined a stream midway (a recording
# started during a song): a page starting at 0 holds a second or two at most.
_JOINED_S = 30
_BOS, _EOS = 0x02, 0x04
_OPUS_RATE = 48000  # Opus granule positions count 48 kHz samples whatever the input rate
_SAMPLES = 8  # places a single-serial file's page counts are read at (7 besides its end)


@dataclass
class _Chain:
    rate: int
    first: int | None = None  # the first audio page's granule position
    granule: int = 0
    ended: bool = False

    def seconds(self) -> float:
        """The chain's length: from 0, or from where a recording joined a stream midway."""
        start = self.first if self.first and self.first > _JOINED_S * self.rate else 0
        return (self.granule - start) / self.rate


def chained_duration(path: Path, result: ProbeResult) -> ProbeResult:
    """Return `result` with the summed duration of `path`'s chains when it has several."""
    if result.container != "ogg" or result.has_video or not result.size_bytes:
        return result
    try:
        with ProbeReader(path) as file:
            start, end = id3v2_end(file), audio_end(file)
            first = file.pread(start, _HEADER)
            last = _last_page_ids(file, end)
            if not first.startswith(b"OggS") or last is None:
                return result
            if last[:4] == first[14:18] and not _counts_restart(file, start, end, last):
                return result
            chains = _walk(file, start, end)
    except OSError:
        return result
    if not chains:
        return result
    seconds = round(sum(chain.seconds() for chain in chains), 6)
    if seconds <= 0:
        return result
    return replace(result, duration=seconds, bitrate=round(result.size_bytes * 8 / seconds))


def _last_page_ids(file: ProbeReader, end: int) -> bytes | None:
    """Return the serial and sequence numbers (4 bytes each) of the last page before `end`
    (None when none is found), reading back 8 KB at a time: a page of a second of audio is
    16-20 KB at 160 kbit/s."""
    data = b""
    while len(data) < min(end, _MAX_PAGE + _STEP):
        size = min(_STEP, end - len(data))
        data = file.pread(end - len(data) - size, size) + data
        at = data.rfind(b"OggS")
        if at >= 0 and len(data) >= at + 22:
            return data[at + 14 : at + 22]
    return None


def _counts_restart(file: ProbeReader, start: int, end: int, last: bytes) -> bool:
    """Tell whether the page sequence numbers of one serial start again within the file.

    One page header is read at each of `_SAMPLES` places (the first page found after it);
    a chain joined after another restarts the count at 0, so a page past the join counts
    lower than one before it, or the last page lower than one of the first chain's.
    """
    counts: list[int] = []
    for k in range(1, _SAMPLES):
        head = _page_after(file, start + (end - start) * k // _SAMPLES, end)
        if head is not None and head[14:18] == last[:4]:
            counts.append(int.from_bytes(head[18:22], "little"))
    counts.append(int.from_bytes(last[4:8], "little"))
    return any(later < earlier for earlier, later in pairwise(counts))


def _page_after(file: ProbeReader, offset: int, end: int) -> bytes | None:
    """Return the header of the first page at or after `offset` within one page's length,
    reading 8 KB at a time (most pages are shorter)."""
    data, at = b"", 0
    while len(data) < min(_MAX_PAGE + _HEADER, end - offset):
        more = file.pread(offset + len(data), min(_STEP, end - offset - len(data)))
        if not more:  # the file ends sooner than it did
            return None
        data += more
        while (found := data.find(b"OggS", at)) >= 0 and found + _HEADER <= len(data):
            if data[found + 4] == 0 and data[found + 5] <= 7:  # version 0, known flags
                return data[found : found + _HEADER]
            at = found + 4
    return None


def _walk(file: ProbeReader, start: int, end: int) -> list[_Chain] | None:
    """Return the chains of the pages from `start` to `end` in order, or None when they are
    not chained audio. Pages are read a megabyte at a time (a low-latency stream sends a
    page per packet: 10,000 pages an hour)."""
    chains: list[_Chain] = []
    by_serial: dict[bytes, _Chain] = {}
    offset, buffer, base = start, b"", start
    while offset < end:
        at = offset - base
        if at + _PAGE_HEAD > len(buffer) and base + len(buffer) < end:
            buffer, base, at = file.pread(offset, _CHUNK), offset, 0
        head = buffer[at : at + _PAGE_HEAD]
        if len(head) < _HEADER or not head.startswith(b"OggS"):
            return None
        flags, serial, segments = head[5], head[14:18], head[26]
        lacing = head[_HEADER : _HEADER + segments]
        if len(lacing) < segments:
            return None
        body = _HEADER + segments
        previous = by_serial.get(serial)
        if flags & _BOS:
            if (previous and not previous.ended) or (chains and not chains[-1].ended):
                return None  # multiplexed streams, or a chain that never ended
            chain = _identify(file.pread(offset + body, 32))
            if chain is None:
                return None
            chains.append(chain)
            by_serial[serial] = previous = chain  # a serial may come back after its end
        if previous is None:
            return None
        granule = int.from_bytes(head[6:14], "little", signed=True)
        if granule > 0:
            previous.first = granule if previous.first is None else previous.first
            previous.granule = granule
        previous.ended = bool(flags & _EOS)
        offset += body + sum(lacing)
    return chains


def _identify(packet: bytes) -> _Chain | None:
    """Return a chain for a Vorbis or Opus identification header, None for anything else."""
    if packet.startswith(b"\x01vorbis") and len(packet) >= 16:
        rate = int.from_bytes(packet[12:16], "little")
        return _Chain(rate) if rate > 0 else None
    if packet.startswith(b"OpusHead"):
        return _Chain(_OPUS_RATE)
    return None
