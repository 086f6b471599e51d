"""Classify libav's error messages: the same text means the same error class in every backend.

PyAV raises libav's error codes as exceptions whose text is av_strerror's; ffprobe prints the
same text on stderr. Mapping the text (not the backend's exception type) is what gives a file
the same class whichever backend read it.
"""

from __future__ import annotations

from mediashelf.errors import (
    ProbeCorrupt,
    ProbeError,
    ProbeMissing,
    ProbePermission,
    ProbeUnsupported,
)

# Lower-case fragments of libav messages, checked in order.
_MISSING = ("no such file",)
_PERMISSION = ("permission denied",)
_UNSUPPORTED = (
    "not yet implemented",
    "patches welcome",
    "decoder not found",
    "demuxer not found",
    "protocol not found",
    "not supported",
    "unknown format",
)


def classify_libav_error(text: str) -> ProbeError:
    """Return the ProbeError for one libav error message (no server path in it)."""
    lowered = text.lower()
    if any(part in lowered for part in _MISSING):
        return ProbeMissing()
    if any(part in lowered for part in _PERMISSION):
        return ProbePermission()
    if any(part in lowered for part in _UNSUPPORTED):
        return ProbeUnsupported(f"Unsupported format: {text}")
    return ProbeCorrupt(f"Not a readable media file: {text}")
