"""The Content-Type of each audio and video extension the library scans."""

from __future__ import annotations

from mediashelf.probe.formats import AUDIO_EXTENSIONS, VIDEO_EXTENSIONS

_KNOWN = {
    # audio
    "mp3": "audio/mpeg", "m4a": "audio/mp4", "m4b": "audio/mp4", "alac": "audio/mp4",
    "aac": "audio/aac", "flac": "audio/flac", "ogg": "audio/ogg", "oga": "audio/ogg",
    "opus": "audio/ogg", "wav": "audio/wav", "wv": "audio/wavpack", "ape": "audio/x-ape",
    "aif": "audio/aiff", "aiff": "audio/aiff", "wma": "audio/x-ms-wma",
    "mka": "audio/x-matroska", "dsf": "audio/x-dsf", "mpc": "audio/x-musepack",
    # video
    "mp4": "video/mp4", "m4v": "video/mp4", "mkv": "video/x-matroska", "webm": "video/webm",
    "mov": "video/quicktime", "avi": "video/x-msvideo", "wmv": "video/x-ms-wmv",
    "flv": "video/x-flv", "ts": "video/mp2t", "m2ts": "video/mp2t", "mts": "video/mp2t",
    "mpg": "video/mpeg", "mpeg": "video/mpeg", "vob": "video/mpeg", "3gp": "video/3gpp",
    "ogv": "video/ogg", "mp2": "audio/mpeg", "mp1": "audio/mpeg", "mpa": "audio/mpeg",
    "m4r": "audio/mp4", "wave": "audio/wav", "au": "audio/basic", "snd": "audio/basic",
    "ac3": "audio/ac3", "eac3": "audio/eac3", "amr": "audio/amr", "3g2": "video/3gpp2",
    "spx": "audio/ogg", "caf": "audio/x-caf", "asf": "video/x-ms-asf", "m2v": "video/mpeg",
    "m1v": "video/mpeg", "mpv": "video/mpeg",
}  # fmt: skip
# Every scanned extension has a type: the well-known one, else audio/x-EXT or video/x-EXT.
MEDIA_TYPES = {
    **{ext: f"audio/x-{ext}" for ext in AUDIO_EXTENSIONS},
    **{ext: f"video/x-{ext}" for ext in VIDEO_EXTENSIONS},
    **_KNOWN,
}
FALLBACK = "application/octet-stream"


def media_type(filetype: str) -> str:
    """Return the Content-Type for a track's extension (octet-stream for unknown extras)."""
    return MEDIA_TYPES.get(filetype.lower(), FALLBACK)
