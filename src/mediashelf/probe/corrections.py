"""Facts mediashelf reads from the file itself after either backend, where libav is wrong.

Both backends (PyAV in a pool process, ffprobe) report what libav reports, and libav is
wrong the same way on both: random bytes under an elementary-stream name (.mp3, .aac, .ac3,
.gsm) read as audio; a VBR MP3 without a frame count is timed by its size; a Matroska file
stating no Duration gets a guess or nothing; a cover written as a plain MJPEG track into
Matroska looks like 25 fps video; a chained Ogg file lasts as long as its last chain; a
FLAC file written to a pipe states no length at all; 24-bit audio in a WAV's 32-bit words
is read as 24-bit floats lasting a third too long; a WAV past 4 GiB whose sizes wrapped
lasts as long as what the wrapped size left. Applied here, after either backend,
the three ways of probing a file store the same facts (and reject the same files).
"""

from __future__ import annotations

from pathlib import Path

from mediashelf.probe.elementary import checked_stream
from mediashelf.probe.flac_frames import counted_length
from mediashelf.probe.matroska import matroska_facts
from mediashelf.probe.mp3_frames import counted_duration
from mediashelf.probe.ogg_chains import chained_duration
from mediashelf.probe.result import ProbeResult
from mediashelf.probe.wav_format import container_pcm, wrapped_data


def corrected(path: Path, result: ProbeResult) -> ProbeResult:
    """Return `result` with what the file's own headers and frames correct in it.

    Raises ProbeCorrupt when the file holds no frames of the stream libav says it read.
    """
    result = wrapped_data(path, container_pcm(path, result))
    result = counted_duration(path, checked_stream(path, result))
    return counted_length(path, chained_duration(path, matroska_facts(path, result)))
