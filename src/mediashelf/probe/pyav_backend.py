"""In-process probing through PyAV (libav): no process spawned per file."""

from __future__ import annotations

import re
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import av
import av.error

from mediashelf.errors import (
    ProbeCorrupt,
    ProbeError,
    ProbeMissing,
    ProbePermission,
    ProbeUnsupported,
)
from mediashelf.probe.base import check_readable
from mediashelf.probe.normalize import build_result, frame_rate, positive_int
from mediashelf.probe.result import ProbeResult, StreamFacts

_UNSUPPORTED = (
    av.error.DecoderNotFoundError,
    av.error.DemuxerNotFoundError,
    av.error.PatchWelcomeError,
    av.error.ProtocolNotFoundError,
)
_ATTACHED_PIC = int(av.stream.Disposition.attached_pic)
_DEFAULT = int(av.stream.Disposition.default)
_PCM_BITS = re.compile(r"^pcm_[suf](\d+)")
_UNSPECIFIED_LAYOUT = re.compile(r"^\d+ channels?$")


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
        except _UNSUPPORTED as exc:
            raise ProbeUnsupported(f"Unsupported format: {exc.strerror}") from exc
        except FileNotFoundError as exc:
            raise ProbeMissing() from exc
        except PermissionError as exc:
            raise ProbePermission() from exc
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            raise ProbeCorrupt(f"Not a readable media file: {_reason(exc)}") from exc
        return _with_time(result, started)


def _read(container: Any, size: int, prober: str) -> ProbeResult:
    streams = [_stream_facts(stream) for stream in container.streams]
    duration = container.duration / 1_000_000 if container.duration else None
    return build_result(
        container=container.format.name,
        duration=duration,
        size_bytes=size,
        bitrate=container.bit_rate,
        streams=streams,
        prober=prober,
    )


def _stream_facts(stream: Any) -> StreamFacts:
    disposition = int(stream.disposition)
    ctx = stream.codec_context
    codec = ctx.codec.canonical_name if ctx is not None else None
    common: dict[str, Any] = {
        "kind": stream.type,
        "codec": codec,
        "bitrate": positive_int(ctx.bit_rate) if ctx is not None else None,
        "attached_pic": bool(disposition & _ATTACHED_PIC),
        "default": bool(disposition & _DEFAULT),
    }
    if ctx is None:
        return StreamFacts(**common)
    if stream.type == "video":
        return StreamFacts(
            **common,
            width=positive_int(ctx.width),
            height=positive_int(ctx.height),
            fps=frame_rate(stream.average_rate, stream.base_rate),
        )
    if stream.type == "audio":
        layout = ctx.layout.name if ctx.layout is not None else None
        return StreamFacts(
            **common,
            channels=positive_int(ctx.channels),
            channel_layout=None if not layout or _UNSPECIFIED_LAYOUT.match(layout) else layout,
            sample_rate=positive_int(ctx.sample_rate),
            bit_depth=_bit_depth(codec or "", ctx),
        )
    return StreamFacts(**common)


def _bit_depth(codec: str, ctx: Any) -> int | None:
    """Return the stored bit depth the way ffprobe reports it (lossy codecs have none).

    PyAV does not expose bits_per_raw_sample, so lossless codecs are read from their own
    headers: the codec id for PCM, STREAMINFO for FLAC, the magic cookie for ALAC.
    """
    pcm = _PCM_BITS.match(codec)
    if pcm:
        return int(pcm.group(1))
    if codec in {"pcm_alaw", "pcm_mulaw"}:
        return 8
    extradata = bytes(ctx.extradata or b"")
    if codec == "flac":
        return _flac_bits(extradata)
    if codec == "alac" and len(extradata) >= 18:
        return extradata[17] or None
    return None


def _flac_bits(extradata: bytes) -> int | None:
    info = extradata[8:] if extradata.startswith(b"fLaC") else extradata
    if len(info) < 14:
        return None
    return ((info[12] & 0x01) << 4 | info[13] >> 4) + 1


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return str(text).split(": '/")[0]


def _with_time(result: ProbeResult, started: float) -> ProbeResult:
    return replace(result, probe_ms=round((time.perf_counter() - started) * 1000, 3))
