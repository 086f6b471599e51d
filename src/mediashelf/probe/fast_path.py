"""The fast probe: hinted demuxer, no video decoding, cover art and payload left unread.

It answers only when the facts it found are complete by the rule of `completeness`; when it
does not answer, the backend runs libav's full analysis, which stays the reference.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import av.error

from mediashelf.errors import ProbeError
from mediashelf.probe.analysis import (
    BUFFER_SIZE,
    SIGNATURE_BYTES,
    demuxer_hint,
    fast_options,
    has_signature,
)
from mediashelf.probe.completeness import missing_fact
from mediashelf.probe.covers import find_covers
from mediashelf.probe.pyav_streams import RawFacts, read_container
from mediashelf.probe.reader import ProbeReader
from mediashelf.probe.result import ProbeResult
from mediashelf.probe.wav_format import zeroed_tail

_LIBAV_ERRORS = (av.error.FFmpegError, OSError, ValueError, EOFError)


@dataclass(frozen=True)
class FastOutcome:
    """What the fast probe did: its result (None: a full analysis is needed) and its reads."""

    result: ProbeResult | None
    demuxer: str | None  # the hinted demuxer used, None after detection or no answer
    reason: str  # why there is no result ("" when there is one)
    bytes_read: int
    reads: int


def probe_fast(path: Path, size: int, prober: str) -> FastOutcome:
    """Probe `path` the fast way; never raises for what libav cannot read."""
    try:
        reader = ProbeReader(path)
    except OSError as exc:
        return FastOutcome(None, None, f"cannot open: {exc.strerror}", 0, 0)
    with reader:
        hiding = find_covers(reader)
        reader.overlay({**hiding.overlays, **zeroed_tail(reader)})
        hint = demuxer_hint(path.suffix)
        head = reader.pread(hiding.skip_initial_bytes, SIGNATURE_BYTES)
        demuxers = [hint, None] if hint and has_signature(hint, head) else [None]
        reason = "no usable stream"
        for demuxer in demuxers:
            raw = _open(reader, demuxer, hiding.skip_initial_bytes)
            if raw is None:
                reason = "libav could not open it"
                continue
            try:
                result = raw.result(size, prober)
            except ProbeError:
                reason = "no usable stream"
                continue
            missing = missing_fact(raw)
            if missing:
                return FastOutcome(None, demuxer, missing, reader.bytes_read, reader.reads)
            return FastOutcome(result, demuxer, "", reader.bytes_read, reader.reads)
        return FastOutcome(None, None, reason, reader.bytes_read, reader.reads)


def _open(reader: ProbeReader, demuxer: str | None, skip: int) -> RawFacts | None:
    """Open the file behind `reader` with `demuxer` (None: detection); None when libav fails."""
    reader.seek(0)
    try:
        with av.open(
            reader,
            format=demuxer,
            container_options=fast_options(demuxer, skip),
            buffer_size=BUFFER_SIZE,
            metadata_errors="ignore",
        ) as container:
            return read_container(container, demuxer)
    except _LIBAV_ERRORS:
        return None
