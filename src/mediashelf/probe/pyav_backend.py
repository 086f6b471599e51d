"""In-process probing through PyAV (libav): no process spawned per file."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import av
import av.error

from mediashelf.errors import ProbeError, ProbeMissing, ProbePermission
from mediashelf.probe.base import check_readable
from mediashelf.probe.depth import LOSSLESS_CODECS, coded_bits
from mediashelf.probe.failures import classify_libav_error
from mediashelf.probe.normalize import build_result
from mediashelf.probe.pyav_dump import DumpedStream, dumped_streams
from mediashelf.probe.result import ProbeResult, StreamFacts

_ATTACHED_PIC = int(av.stream.Disposition.attached_pic)
_DEFAULT = int(av.stream.Disposition.default)
# AVFieldOrder values, named as ffprobe names them.
_FIELD_ORDER = {1: "progressive", 2: "tt", 3: "bb", 4: "tb", 5: "bt"}


class PyAVProber:
    """Probe with the libav bundled in PyAV's wheels."""

    name = "pyav"

    def __init__(self) -> None:
        self.version = f"pyav {av.__version__} (FFmpeg {av.ffmpeg_version_info})"

    def probe(self, path: Path) -> ProbeResult:
        """Open `path` with libav and read its container and stream facts."""
        size = check_readable(path)
        started = time.perf_counter()
        try:
            with av.open(str(path), metadata_errors="ignore") as container:
                result = _read(container, size, self.version)
        except ProbeError:
            raise
        except FileNotFoundError as exc:
            raise ProbeMissing() from exc
        except PermissionError as exc:
            raise ProbePermission() from exc
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            raise classify_libav_error(_reason(exc)) from exc
        return _with_time(result, started)


def _read(container: Any, size: int, prober: str) -> ProbeResult:
    streams = list(container.streams)
    dumped = dumped_streams(container) if any(map(_needs_dump, streams)) else {}
    duration = container.duration / 1_000_000 if container.duration else None
    return build_result(
        container=container.format.name,
        duration=duration,
        size_bytes=size,
        bitrate=container.bit_rate,
        streams=[_stream_facts(s, dumped.get(s.index)) for s in streams],
        prober=prober,
    )


def _needs_dump(stream: Any) -> bool:
    """Tell whether PyAV lacks facts of `stream` that libav's dump has."""
    if stream.type not in ("audio", "video"):
        return False
    ctx = stream.codec_context
    if ctx is None:
        return True
    codec = ctx.codec.canonical_name
    return stream.type == "audio" and (codec in LOSSLESS_CODECS or coded_bits(codec) is not None)


def _stream_facts(stream: Any, dumped: DumpedStream | None) -> StreamFacts:
    disposition = int(stream.disposition)
    ctx = stream.codec_context
    dump = dumped or DumpedStream()
    common: dict[str, Any] = {
        "kind": stream.type,
        "codec": ctx.codec.canonical_name if ctx is not None else dump.codec,
        "bitrate": ctx.bit_rate if ctx is not None else None,
        "frames": stream.frames,
        "attached_pic": bool(disposition & _ATTACHED_PIC),
        "default": bool(disposition & _DEFAULT),
    }
    if stream.type == "video":
        return StreamFacts(**common, **_video(stream, ctx, dump))
    if stream.type == "audio":
        return StreamFacts(**common, **_audio(ctx, dump))
    return StreamFacts(**common)


def _video(stream: Any, ctx: Any, dump: DumpedStream) -> dict[str, Any]:
    return {
        "width": ctx.width if ctx is not None else dump.width,
        "height": ctx.height if ctx is not None else dump.height,
        "avg_frame_rate": stream.average_rate,
        "r_frame_rate": stream.base_rate,
        "field_order": _FIELD_ORDER.get(int(ctx.field_order)) if ctx is not None else None,
    }


def _audio(ctx: Any, dump: DumpedStream) -> dict[str, Any]:
    if ctx is None:
        return {
            "channels": dump.channels,
            "channel_layout": dump.channel_layout,
            "sample_rate": dump.sample_rate,
            "sample_format": dump.sample_format,
            "bits_per_raw_sample": dump.bits_per_raw_sample,
        }
    return {
        "channels": ctx.channels,
        "channel_layout": ctx.layout.name if ctx.layout is not None else None,
        "sample_rate": ctx.sample_rate,
        "sample_format": ctx.format.name if ctx.format is not None else dump.sample_format,
        "bits_per_raw_sample": dump.bits_per_raw_sample,
    }


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return str(text).split(": '/")[0]


def _with_time(result: ProbeResult, started: float) -> ProbeResult:
    return replace(result, probe_ms=round((time.perf_counter() - started) * 1000, 3))
