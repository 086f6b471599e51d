"""Turn raw backend facts into a ProbeResult by one set of rules shared by every backend.

Keeping the rules here (stream choice, unknown values, bitrate fallback, fps rounding) is what
makes the pyav and ffprobe backends agree field for field.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

from mediashelf.errors import ProbeNoStreams
from mediashelf.probe.result import ProbeResult, StreamFacts

# Codecs that only ever hold still pictures; a "video" stream with one of these is cover art.
STILL_IMAGE_CODECS = frozenset(
    {"png", "bmp", "gif", "tiff", "webp", "jpegls", "jpeg2000", "jpegxl", "qoi", "ppm", "pgm"}
)


def positive_int(value: object) -> int | None:
    """Return `value` as a positive int; "N/A", empty, zero, negative and junk become None."""
    number = positive_float(value)
    return None if number is None or number < 1 else int(number)


def positive_float(value: object) -> float | None:
    """Return `value` as a positive finite float; "N/A", empty, non-positive and junk are None."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if not math.isfinite(number) or number <= 0:
        return None
    return number


def frame_rate(*candidates: object) -> float | None:
    """Return the first usable rate among `candidates` ("30000/1001", Fraction, float), 3 dp."""
    for candidate in candidates:
        rate = _as_rate(candidate)
        if rate is not None:
            return round(rate, 3)
    return None


def _as_rate(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, str) and "/" in value:
        num, _, den = value.partition("/")
        try:
            value = Fraction(int(num), int(den)) if int(den) else None
        except ValueError:
            return None
    if isinstance(value, Fraction):
        value = float(value)
    return positive_float(value)


def choose_video(streams: Sequence[StreamFacts]) -> StreamFacts | None:
    """Return the main video stream: the largest that is not cover art or a still image."""
    candidates = [
        s
        for s in streams
        if s.kind == "video" and not s.attached_pic and (s.codec or "") not in STILL_IMAGE_CODECS
    ]
    if not candidates:
        return None
    return max(candidates, key=lambda s: ((s.width or 0) * (s.height or 0), s.default))


def choose_audio(streams: Sequence[StreamFacts]) -> StreamFacts | None:
    """Return the main audio stream: the default one, else the first."""
    audio = [s for s in streams if s.kind == "audio"]
    if not audio:
        return None
    return next((s for s in audio if s.default), audio[0])


def build_result(
    *,
    container: str | None,
    duration: object,
    size_bytes: int | None,
    bitrate: object,
    streams: Sequence[StreamFacts],
    prober: str,
) -> ProbeResult:
    """Apply the shared rules to one file's raw facts."""
    video = choose_video(streams)
    audio = choose_audio(streams)
    if video is None and audio is None:
        raise ProbeNoStreams()
    seconds = positive_float(duration)
    overall = positive_int(bitrate)
    if overall is None and seconds and size_bytes:
        overall = int(size_bytes * 8 / seconds)
    return ProbeResult(
        container=container or None,
        duration=round(seconds, 3) if seconds is not None else None,
        size_bytes=size_bytes if size_bytes and size_bytes > 0 else None,
        bitrate=overall,
        has_video=video is not None,
        has_audio=audio is not None,
        width=video.width if video else None,
        height=video.height if video else None,
        video_codec=video.codec if video else None,
        video_fps=video.fps if video else None,
        video_bitrate=video.bitrate if video else None,
        audio_codec=audio.codec if audio else None,
        audio_bitrate=audio.bitrate if audio else None,
        audio_channels=audio.channels if audio else None,
        audio_channel_layout=audio.channel_layout if audio else None,
        audio_sample_rate=audio.sample_rate if audio else None,
        audio_bit_depth=audio.bit_depth if audio else None,
        prober=prober,
    )
