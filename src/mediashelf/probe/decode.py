"""Integrity verification: decode a file completely and count what libav complains about.

A probe reads headers; a file can have good headers and broken frames (a bad rip, a
truncated download, bit rot). Decoding every packet of the main audio and video streams is
what `ffmpeg -v error -i FILE -f null -` does: each error libav reports, or raises, counts,
and the first one is kept with its position in the file (the time of the last good frame).
Runs in the isolated pool like probes, so a decoder crash or hang costs one pool process.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import av.error
import av.logging

from mediashelf.errors import ProbeCorrupt, ProbeError, ProbeMissing, ProbePermission
from mediashelf.probe.base import check_readable
from mediashelf.probe.normalize import CUSTOM_ORDER_LAYOUT
from mediashelf.probe.pyav_dump import dumped_streams

MAX_MESSAGE = 300


@dataclass(frozen=True)
class DecodeReport:
    """What decoding a whole file found."""

    errors: int
    first_error: str | None
    first_error_at_s: float | None
    decoded_s: float  # media time decoded (the last frame's time)
    size_bytes: int


def decode_file(path: Path) -> DecodeReport:
    """Decode every packet of the file's main audio and video streams."""
    size = check_readable(path)
    previous = av.logging.get_level()
    av.logging.set_level(av.logging.ERROR)  # libav logs (and Capture sees) errors only
    try:
        with av.logging.Capture() as logs, av.open(str(path), metadata_errors="ignore") as box:
            return _decode(box, logs, size)
    except FileNotFoundError as exc:
        raise ProbeMissing() from exc
    except PermissionError as exc:
        raise ProbePermission() from exc
    except ProbeError:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise ProbeCorrupt(f"The file cannot be opened for decoding: {exc}") from exc
    finally:
        av.logging.set_level(previous)


def _main_streams(container: Any) -> list[Any]:
    audio = list(container.streams.audio[:1])
    video = [
        s for s in container.streams.video
        if not int(s.disposition) & int(av.stream.Disposition.attached_pic)
    ][:1]  # fmt: skip
    streams = audio + video
    if not streams:
        raise ProbeCorrupt("No audio or video stream to decode.")
    return streams


def _unordered_custom_layouts(container: Any, streams: list[Any]) -> None:
    """Give an audio stream of a custom-order layout an unordered one of as many channels.

    PyAV 18.1 copies each decoded frame's layout without its channel map and frees the map
    with the copy, then libav frees it again: decoding a MOV or CAF 6.1/7.1 whose channels are
    not in libav's order aborted the process, and the file failed as `crashed`. Decoding
    needs only the channel count (`pyav_streams` explains the probe's side).
    """
    audio = [stream for stream in streams if stream.type == "audio"]
    if not audio:
        return
    dumped = dumped_streams(container)
    for stream in audio:
        described = dumped[stream.index].channel_layout if stream.index in dumped else None
        custom = CUSTOM_ORDER_LAYOUT.match(described or "")
        if custom:
            stream.codec_context.layout = f"{custom.group(1)} channels"


def _decode(container: Any, logs: list[tuple[int, str, str]], size: int) -> DecodeReport:
    streams = _main_streams(container)
    _unordered_custom_layouts(container, streams)
    raised, seen, last = 0, 0, 0.0
    first: tuple[str, float] | None = None
    for packet in container.demux(streams):
        try:
            for frame in packet.decode():
                if frame.time is not None:
                    last = max(last, float(frame.time))
        except av.error.FFmpegError as exc:
            raised += 1
            if first is None:
                first = (str(exc), last)
        if len(logs) > seen:
            if first is None:
                first = (logs[seen][2], last)
            seen = len(logs)
    errors = raised + len(logs)
    message = " ".join(first[0].split())[:MAX_MESSAGE] if first else None
    return DecodeReport(errors, message, first[1] if first else None, round(last, 3), size)
