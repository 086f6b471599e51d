"""The methods bench/realistic.py times, each run in its own child process."""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from mediashelf.config import Settings
from mediashelf.errors import ProbeError
from mediashelf.probe.chain import ProbeChain, build_chain
from mediashelf.probe.fast_path import probe_fast
from mediashelf.probe.ffprobe_backend import FfprobeProber, parse_ffprobe_json
from mediashelf.probe.pool import ProbePool
from mediashelf.probe.pyav_backend import PyAVProber
from mediashelf.probe.result import ProbeResult

FFPROBE_ARGS = ("-v", "error", "-print_format", "json", "-show_format", "-show_streams")
COMPARED = ("container", "video_codec", "audio_codec", "width", "height", "audio_channels",
            "audio_sample_rate")  # fmt: skip
Outcomes = dict[str, Any]  # relpath -> media fields, or an error string


@dataclass(frozen=True)
class Runner:
    """How to set a method up (untimed), run it over the files (timed) and tear it down."""

    prepare: Callable[[list[Path], int], Any]
    run: Callable[[Any, list[Path], Path], dict[str, Any]]
    close: Callable[[Any], None] = lambda state: None


def library_files(root: Path, audio_only: bool) -> list[Path]:
    """Return the library's files, sorted (only the audio ones when asked)."""
    files = sorted(p for p in root.rglob("*") if p.is_file())
    return [p for p in files if "Videos" not in p.parts] if audio_only else files


def evict(files: Sequence[Path]) -> None:
    """Drop every file's pages from the page cache (the next read comes from storage)."""
    for path in files:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def read_all(files: Sequence[Path]) -> None:
    """Read every file once (warm page cache)."""
    for path in files:
        with path.open("rb") as handle:
            while handle.read(1 << 22):
                pass


# --------------------------------------------------------------------------- mediashelf


def _pool(chain: ProbeChain, files: list[Path], processes: int) -> ProbePool:
    pool = ProbePool.for_chain(chain, processes)
    list(pool.probe_many(files[: processes * 2]))  # start the workers and import PyAV
    return pool


def _pool_run(pool: ProbePool, files: list[Path], root: Path) -> dict[str, Any]:
    outcomes: Outcomes = {}
    for path, value in pool.probe_many(files):
        key = str(path.relative_to(root))
        outcomes[key] = value.error_class if isinstance(value, ProbeError) else _facts(value)
    return {
        "outcomes": outcomes,
        "failures": [k for k, v in outcomes.items() if isinstance(v, str)],
    }


def _facts(result: ProbeResult) -> dict[str, Any]:
    return {**result.media_fields(), "has_video": result.has_video, "has_audio": result.has_audio}


def _full_chain() -> ProbeChain:
    settings = Settings()
    probers = (
        PyAVProber(fast=False),
        FfprobeProber(settings.ffprobe_path, settings.probe_timeout_s),
    )
    return ProbeChain(probers, budget_s=settings.probe_timeout_s * 2)


def _scan_cli(state: Any, files: list[Path], root: Path) -> dict[str, Any]:
    """Run `mediashelf scan --json` on a fresh SQLite database; read the job's own times."""
    with tempfile.TemporaryDirectory(prefix="mediashelf-scan-") as tmp:
        env = {**os.environ, "MEDIASHELF_LIBRARY": str(root),
               "MEDIASHELF_DATABASE_URL": f"sqlite:///{tmp}/scan.db",
               "MEDIASHELF_PROBE_PROCESSES": str(state)}  # fmt: skip
        command = [str(Path(sys.executable).parent / "mediashelf"), "scan", "--json"]
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"mediashelf scan failed: {done.stderr[-2000:]}")
    job = json.loads(done.stdout)
    started, finished = (datetime.fromisoformat(job[k]) for k in ("started_at", "finished_at"))
    result = job.get("result") or {}
    failed = int(result.get("failed") or 0)
    if result.get("added") != len(files):
        raise RuntimeError(f"the scan added {result.get('added')} of {len(files)} files")
    return {"job_seconds": (finished - started).total_seconds(), "failures": ["x"] * failed}


# --------------------------------------------------------------------------- others


def ffprobe_facts(path: Path) -> dict[str, Any] | str:
    """Run one ffprobe process and normalise its JSON with mediashelf's rules."""
    done = subprocess.run(["ffprobe", *FFPROBE_ARGS, str(path)], capture_output=True, check=False)
    if done.returncode != 0:
        return "ffprobe failed"
    try:
        return _facts(parse_ffprobe_json(json.loads(done.stdout), path.stat().st_size, "ffprobe"))
    except ProbeError as exc:
        return exc.error_class


def _ffprobe(processes: int) -> Callable[[Any, list[Path], Path], dict[str, Any]]:
    def run(state: Any, files: list[Path], root: Path) -> dict[str, Any]:
        with ThreadPoolExecutor(max_workers=processes) as executor:
            values = list(executor.map(ffprobe_facts, files))
        outcomes = {str(p.relative_to(root)): v for p, v in zip(files, values, strict=True)}
        return {"outcomes": outcomes, "failures": [k for k, v in outcomes.items()
                                                   if isinstance(v, str)]}  # fmt: skip

    return run


def _library(name: str) -> Any:
    return importlib.import_module(name)


def _mutagen(state: Any, files: list[Path], root: Path) -> dict[str, Any]:
    mutagen = _library("mutagen")
    failures = []
    for path in files:
        info = mutagen.File(path)
        if info is None or not info.info.length:
            failures.append(str(path.relative_to(root)))
    return {"failures": failures}


def _mediainfo(state: Any, files: list[Path], root: Path) -> dict[str, Any]:
    media_info = _library("pymediainfo").MediaInfo
    failures = []
    for path in files:
        tracks = [t for t in media_info.parse(path).tracks if t.track_type == "Audio"]
        if not tracks or not tracks[0].sampling_rate:
            failures.append(str(path.relative_to(root)))
    return {"failures": failures}


def _available(module: str) -> bool:
    try:
        _library(module)
    except ImportError:
        return False
    return True


def _runners() -> dict[str, Runner]:
    processes_of: Callable[[list[Path], int], int] = lambda files, n: n  # noqa: E731
    runners = {
        "scan-cli": Runner(processes_of, _scan_cli),
        "pool": Runner(lambda f, n: _pool(build_chain(Settings()), f, n), _pool_run,
                       lambda pool: pool.close()),
        "pool-full-analysis": Runner(lambda f, n: _pool(_full_chain(), f, n), _pool_run,
                                     lambda pool: pool.close()),
        "ffprobe-seq": Runner(processes_of, _ffprobe(1)),
        "ffprobe-conc": Runner(processes_of, lambda s, f, r: _ffprobe(s)(s, f, r)),
        "pool-audio": Runner(lambda f, n: _pool(build_chain(Settings()), f, n), _pool_run,
                             lambda pool: pool.close()),
    }  # fmt: skip
    if _available("mutagen"):
        runners["mutagen"] = Runner(processes_of, _mutagen)
    if _available("pymediainfo"):
        runners["mediainfo"] = Runner(processes_of, _mediainfo)
    return runners


RUNNERS = _runners()
AUDIO_ONLY = {"pool-audio": True, "mutagen": True, "mediainfo": True}
MISSING = [name for name in ("mutagen", "pymediainfo") if not _available(name)]


# --------------------------------------------------------------------------- checks


def compare(outcomes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Count field differences: fast pool vs full analysis (all fields), vs ffprobe (COMPARED)."""
    fast = outcomes.get("pool", {}).get("outcomes", {})
    full = outcomes.get("pool-full-analysis", {}).get("outcomes", {})
    ffprobe = outcomes.get("ffprobe-seq", {}).get("outcomes", {})
    problems = [  # only when both ran (a --methods subset may leave one out)
        f"{k}: fast {fast[k]} != full {full.get(k)}"
        for k in fast
        if full and fast[k] != full.get(k)
    ]
    disagree = [
        f"{k}: {name} {fast[k][name]!r} != ffprobe {ffprobe[k][name]!r}"
        for k in fast if isinstance(fast[k], dict) and isinstance(ffprobe.get(k), dict)
        for name in COMPARED if fast[k][name] != ffprobe[k][name]
    ]  # fmt: skip
    failures = {m: o.get("failures", []) for m, o in outcomes.items() if o.get("failures")}
    return {"fast_vs_full_differences": len(problems), "vs_ffprobe_disagreements": len(disagree),
            "failures": failures, "problems": problems[:20] + disagree[:20]
            + [f"{m} failed on {len(f)} files" for m, f in failures.items()]}  # fmt: skip


def per_file(path: Path) -> dict[str, float]:
    """Time one file in-process (best of 3) and count what one fast probe reads."""
    fast, full = PyAVProber(), PyAVProber(fast=False)
    timings = {
        "fast_ms": _best(lambda: fast.probe(path)),
        "full_ms": _best(lambda: full.probe(path)),
    }
    started = time.perf_counter()
    ffprobe_facts(path)
    timings["ffprobe_ms"] = (time.perf_counter() - started) * 1000
    outcome = probe_fast(path, path.stat().st_size, fast.version)
    before = _bytes_read()
    with contextlib.suppress(ProbeError):
        fast.probe(path)
    return {**timings, "fast_kb": (_bytes_read() - before) / 1024,
            "second_pass": float(outcome.result is None)}  # fmt: skip


def _bytes_read() -> int:
    """Return the bytes this process has read so far (Linux `rchar`: every read and pread,
    the fast path's, its corrections' and a second pass's alike)."""
    with open("/proc/self/io", "rb") as io:
        return int(io.read().split(b"rchar:")[1].split()[0])


def _best(call: Callable[[], object], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        with contextlib.suppress(ProbeError):
            call()
        times.append(time.perf_counter() - started)
    return min(times) * 1000
