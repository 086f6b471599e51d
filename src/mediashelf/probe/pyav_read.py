"""Probing through PyAV (libav) in this process: no process spawned per file."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import av
import av.error

from mediashelf.errors import ProbeError, ProbeMissing, ProbePermission
from mediashelf.probe.base import check_readable
from mediashelf.probe.corrections import corrected
from mediashelf.probe.failures import classify_libav_error
from mediashelf.probe.fast_path import probe_fast
from mediashelf.probe.pyav_streams import read_container
from mediashelf.probe.result import ProbeResult

VERSION = f"pyav {av.__version__} (FFmpeg {av.ffmpeg_version_info})"


def probe(path: Path, fast: bool = True) -> ProbeResult:
    """Read the container and stream facts of `path` (DESIGN §3, fast path first)."""
    size = check_readable(path)
    started = time.perf_counter()
    result = probe_fast(path, size, VERSION).result if fast else None
    if result is None:
        result = probe_full(path, size)
    return _with_time(corrected(path, result), started)


def probe_full(path: Path, size: int) -> ProbeResult:
    """Open `path` by libav's own detection and run its full stream analysis."""
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            return read_container(container).result(size, VERSION)
    except ProbeError:
        raise
    except FileNotFoundError as exc:
        raise ProbeMissing() from exc
    except PermissionError as exc:
        raise ProbePermission() from exc
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise classify_libav_error(_reason(exc)) from exc


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return str(text).split(": '/")[0]


def _with_time(result: ProbeResult, started: float) -> ProbeResult:
    return replace(result, probe_ms=round((time.perf_counter() - started) * 1000, 3))
