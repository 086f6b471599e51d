"""Probing through the ffprobe binary: one process per file, with a hard timeout.

It is the fallback when PyAV cannot read a file and the reference the tests hold PyAV to.
Only the entries mediashelf uses are requested, which bounds the output a hostile file
(a tag bomb, say) can make ffprobe print.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import json
import signal
import subprocess
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from mediashelf.errors import ProbeCorrupt, ProbeError, ProbeTimeout, ProbeUnsupported
from mediashelf.probe.base import check_readable, ffprobe_available
from mediashelf.probe.corrections import corrected
from mediashelf.probe.failures import classify_libav_error
from mediashelf.probe.normalize import build_result
from mediashelf.probe.result import ProbeResult, StreamFacts

ENTRIES = (
    "format=format_name,duration,size,bit_rate"
    ":stream=codec_type,codec_name,width,height,avg_frame_rate,r_frame_rate,field_order,"
    "nb_frames,bit_rate,channels,channel_layout,sample_rate,sample_fmt,bits_per_raw_sample"
    ":stream_disposition=attached_pic,default"
    ":program=program_id:program_stream=index"
)
MAX_OUTPUT_BYTES = 4 * 1024 * 1024
PR_SET_PDEATHSIG = 1


@functools.cache
def ffprobe_version(binary: str = "ffprobe") -> str:
    """Return ffprobe's version word, e.g. "5.1.6-0+deb12u1" (cached per process)."""
    try:
        out = subprocess.run(
            [binary, "-version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    words = out.split()
    return words[2] if words[:2] == ["ffprobe", "version"] and len(words) > 2 else "unknown"


def die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Have the kernel kill ffprobe if the probe process that started it dies (Linux).

    The pool kills a probe process that overruns its budget; without this its ffprobe child
    would live on, orphaned, reading the file.
    """
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class FfprobeProber:
    """Probe by running ffprobe once for the file."""

    name = "ffprobe"

    def __init__(self, binary: str = "ffprobe", timeout_s: float = 15.0) -> None:
        self.binary = binary
        self.timeout_s = timeout_s

    def command(self, path: Path) -> list[str]:
        """Return the ffprobe command line for `path`."""
        return [
            self.binary, "-v", "error", "-print_format", "json",
            "-show_entries", ENTRIES, str(path),
        ]  # fmt: skip

    def probe(self, path: Path) -> ProbeResult:
        """Run ffprobe on `path` and parse its JSON."""
        size = check_readable(path)
        if not ffprobe_available(self.binary):
            raise ProbeUnsupported("ffprobe is not installed.")
        started = time.perf_counter()
        try:
            done = subprocess.run(
                self.command(path), capture_output=True, timeout=self.timeout_s, check=False,
                preexec_fn=die_with_parent,
            )  # fmt: skip
        except subprocess.TimeoutExpired as exc:
            raise ProbeTimeout(f"ffprobe took longer than {self.timeout_s:g}s.") from exc
        if done.returncode != 0:
            raise _classify(done.stderr.decode("utf-8", "replace"), path)
        if len(done.stdout) > MAX_OUTPUT_BYTES:
            raise ProbeCorrupt("ffprobe output is implausibly large.")
        try:
            data = json.loads(done.stdout)
        except ValueError as exc:
            raise ProbeCorrupt("ffprobe printed unreadable output.") from exc
        result = parse_ffprobe_json(data, size, f"ffprobe {ffprobe_version(self.binary)}")
        result = corrected(path, result)
        return replace(result, probe_ms=round((time.perf_counter() - started) * 1000, 3))


def parse_ffprobe_json(data: dict[str, Any], size: int, prober: str) -> ProbeResult:
    """Build a ProbeResult from ffprobe's JSON."""
    fmt = data.get("format") or {}
    programs = _programs_of_streams(data.get("programs") or [])
    streams = [
        replace(_stream_facts(raw), programs=programs.get(index, ()))
        for index, raw in enumerate(data.get("streams") or [])
    ]
    if not fmt and not streams:
        raise ProbeCorrupt("ffprobe found no format or streams.")
    return build_result(
        container=fmt.get("format_name"),
        duration=fmt.get("duration"),
        size_bytes=size,
        bitrate=fmt.get("bit_rate"),
        streams=streams,
        prober=prober,
    )


def _programs_of_streams(programs: list[Any]) -> dict[int, tuple[int, ...]]:
    """Return {stream index: the ids of the programmes holding it} (streams come in order)."""
    found: dict[int, list[int]] = {}
    for program in programs:
        if not isinstance(program, dict) or not isinstance(program.get("program_id"), int):
            continue
        for stream in program.get("streams") or []:
            index = stream.get("index") if isinstance(stream, dict) else None
            if isinstance(index, int):
                found.setdefault(index, []).append(program["program_id"])
    return {index: tuple(ids) for index, ids in found.items()}


def _stream_facts(raw: dict[str, Any]) -> StreamFacts:
    disposition = raw.get("disposition") or {}
    return StreamFacts(
        kind=str(raw.get("codec_type") or "unknown"),
        codec=raw.get("codec_name"),
        width=raw.get("width"),
        height=raw.get("height"),
        avg_frame_rate=raw.get("avg_frame_rate"),
        r_frame_rate=raw.get("r_frame_rate"),
        field_order=raw.get("field_order"),
        frames=raw.get("nb_frames"),
        bitrate=raw.get("bit_rate"),
        channels=raw.get("channels"),
        channel_layout=raw.get("channel_layout") or None,
        sample_rate=raw.get("sample_rate"),
        sample_format=raw.get("sample_fmt"),
        bits_per_raw_sample=raw.get("bits_per_raw_sample"),
        attached_pic=bool(disposition.get("attached_pic")),
        default=bool(disposition.get("default")),
    )


def _classify(stderr: str, path: Path) -> ProbeError:
    """Classify ffprobe's last error line by the shared libav rules."""
    lines = stderr.replace(str(path), "<file>").strip().splitlines()
    text = lines[-1] if lines else "ffprobe failed"
    return classify_libav_error(text.removeprefix("<file>: ").strip())
