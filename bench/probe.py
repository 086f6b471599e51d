"""Probe throughput: mediashelf's pooled probe chain against one ffprobe process per file.

The baseline is one ``ffprobe -show_format -show_streams`` process per file, run one after
another, because that is what most media servers do when they scan a library: spawn the
ffprobe binary for every file and parse its JSON. Most of that cost is process start-up
(exec, dynamic linking of libavcodec/libavformat and their dependencies), not reading the file.
Since a sequential baseline flatters anything parallel, a second baseline runs ffprobe with as
many concurrent processes as mediashelf's pool has workers, and the chain is compared to both.

Methods, all over the same generated corpus of small mixed audio/video clips:

1. ffprobe per file, sequential (the baseline);
2. ffprobe per file, ``--processes`` at a time (threads waiting on subprocesses);
3. mediashelf's default probe chain (pyav, then ffprobe) through its isolated ``ProbePool``,
   started and warmed up before timing; the cold run including pool start is shown separately;
4. PyAV in this single process, no pool.

Each timed method is the best of ``--repeat`` runs. Every method must succeed on every file,
and the chain's codecs, dimensions, channels and sample rates must match ffprobe's.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import av

from mediashelf.config import Settings
from mediashelf.demo_library import write_demo_library
from mediashelf.errors import ProbeError
from mediashelf.probe.chain import build_chain
from mediashelf.probe.ffprobe_backend import parse_ffprobe_json
from mediashelf.probe.pool import ProbePool
from mediashelf.probe.pyav_backend import PyAVProber
from mediashelf.probe.result import ProbeResult

MIN_FILES = 400
COMPARED_FIELDS = (
    "video_codec",
    "audio_codec",
    "width",
    "height",
    "audio_channels",
    "audio_sample_rate",
)
FFPROBE_ARGS = ("-v", "error", "-print_format", "json", "-show_format", "-show_streams")

V = TypeVar("V")
# A probe outcome per file: the method's result, or the failure message.
Outcomes = list[tuple[Path, V | str]]


@dataclass
class Row:
    """One line of the result table."""

    method: str
    files: int
    seconds: float
    runs: list[float] = field(default_factory=list)
    ratio: float = 0.0
    ratio_concurrent: float | None = None

    @property
    def files_per_s(self) -> float:
        """Return throughput in files per second."""
        return self.files / self.seconds if self.seconds else 0.0


@dataclass
class Report:
    """Everything one benchmark run found."""

    machine: dict[str, Any]
    corpus: dict[str, Any]
    rows: list[Row] = field(default_factory=list)
    failures: dict[str, list[str]] = field(default_factory=dict)
    disagreements: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- probing


def ffprobe_json(path: Path) -> dict[str, Any]:
    """Run one ffprobe process on `path` and return its parsed JSON (raise on failure)."""
    done = subprocess.run(
        ["ffprobe", *FFPROBE_ARGS, str(path)], capture_output=True, check=False, timeout=60
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr.decode("utf-8", "replace").strip() or "ffprobe failed")
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def _ffprobe_outcome(path: Path) -> tuple[Path, dict[str, Any] | str]:
    try:
        return path, ffprobe_json(path)
    except (OSError, ValueError, RuntimeError, subprocess.SubprocessError) as exc:
        return path, f"{type(exc).__name__}: {exc}"


def ffprobe_sequential(paths: Sequence[Path]) -> Outcomes[dict[str, Any]]:
    """Probe `paths` with one ffprobe process per file, one after another."""
    return [_ffprobe_outcome(path) for path in paths]


def ffprobe_concurrent(paths: Sequence[Path], processes: int) -> Outcomes[dict[str, Any]]:
    """Probe `paths` with one ffprobe process per file, `processes` at a time."""
    with ThreadPoolExecutor(max_workers=processes) as executor:
        return list(executor.map(_ffprobe_outcome, paths))


def pool_outcomes(pool: ProbePool, paths: Sequence[Path]) -> Outcomes[ProbeResult]:
    """Probe `paths` through the probe pool (results in order)."""
    return [
        (path, value.message if isinstance(value, ProbeError) else value)
        for path, value in pool.probe_many(paths)
    ]


def pyav_outcomes(prober: PyAVProber, paths: Sequence[Path]) -> Outcomes[ProbeResult]:
    """Probe `paths` with PyAV in this process."""
    out: Outcomes[ProbeResult] = []
    for path in paths:
        try:
            out.append((path, prober.probe(path)))
        except ProbeError as exc:
            out.append((path, exc.message))
    return out


# --------------------------------------------------------------------------- timing


def best_of(repeat: int, run: Callable[[], Outcomes[V]]) -> tuple[list[float], Outcomes[V]]:
    """Time `run` `repeat` times; return every duration and the last run's outcomes."""
    times: list[float] = []
    outcomes: Outcomes[V] = []
    for _ in range(repeat):
        started = time.perf_counter()
        outcomes = run()
        times.append(time.perf_counter() - started)
    return times, outcomes


@dataclass
class PoolRun:
    """The chain through the pool: the cold run, the warm runs and the last outcomes."""

    cold_s: float
    first_result_s: float
    warm: list[float]
    outcomes: Outcomes[ProbeResult]
    parent_cpu_s: float  # CPU time of this (the parent) process per warm run


def _cold_pool_run(paths: Sequence[Path], processes: int, timeout_s: float) -> tuple[float, float]:
    """Time a brand-new pool over the whole corpus: (total seconds, seconds to first result)."""
    chain = build_chain(Settings())
    started = time.perf_counter()
    first = 0.0
    with ProbePool(chain, processes, timeout_s) as pool:
        for n, _ in enumerate(pool.probe_many(paths)):
            if n == 0:
                first = time.perf_counter() - started
        total = time.perf_counter() - started
    return total, first


def run_pool(paths: Sequence[Path], processes: int, repeat: int, warmup: int) -> PoolRun:
    """Measure the chain through a pool: once cold, then warmed up and best of `repeat`."""
    timeout_s = Settings().probe_timeout_s
    cold, first = _cold_pool_run(paths, processes, timeout_s)
    with ProbePool(build_chain(Settings()), processes, timeout_s) as pool:
        pool_outcomes(pool, paths[:warmup])
        cpu_started = time.process_time()
        warm, outcomes = best_of(repeat, lambda: pool_outcomes(pool, paths))
        parent_cpu = (time.process_time() - cpu_started) / repeat
    return PoolRun(cold, first, warm, outcomes, parent_cpu)


# --------------------------------------------------------------------------- checks


def failures_of(outcomes: Outcomes[Any], root: Path) -> list[str]:
    """Return "relpath: message" for every failed file, with machine paths removed."""
    return [
        f"{path.relative_to(root)}: {value.replace(str(root), '<corpus>')}"
        for path, value in outcomes
        if isinstance(value, str)
    ]


def _baseline_results(outcomes: Outcomes[dict[str, Any]]) -> dict[Path, ProbeResult]:
    """Normalise the baseline's ffprobe JSON with mediashelf's shared stream-choice rules."""
    results: dict[Path, ProbeResult] = {}
    for path, value in outcomes:
        if not isinstance(value, str):
            results[path] = parse_ffprobe_json(value, path.stat().st_size, "ffprobe")
    return results


def disagreements(
    reference: dict[Path, ProbeResult], outcomes: Outcomes[ProbeResult], root: Path
) -> list[str]:
    """List every compared field where `outcomes` differ from the `reference` (no durations)."""
    found: list[str] = []
    for path, value in outcomes:
        ref = reference.get(path)
        if ref is None or isinstance(value, str):
            continue
        for name in COMPARED_FIELDS:
            mine, theirs = getattr(value, name), getattr(ref, name)
            if mine != theirs:
                found.append(f"{path.relative_to(root)}: {name} {mine!r} != ffprobe {theirs!r}")
    return found


def answered_by(outcomes: Outcomes[ProbeResult]) -> dict[str, int]:
    """Count which backend of the chain produced each result ("pyav", "ffprobe")."""
    return dict(Counter(v.prober.split()[0] for _, v in outcomes if not isinstance(v, str)))


# --------------------------------------------------------------------------- corpus & machine


def list_media(root: Path) -> list[Path]:
    """Return every regular file under `root`, sorted."""
    return sorted(path for path in root.rglob("*") if path.is_file())


def ensure_corpus(root: Path, count: int) -> tuple[list[Path], bool]:
    """Return the corpus files under `root`, generating `count` clips if it is empty."""
    existing = list_media(root) if root.exists() else []
    if existing:
        return existing, True
    root.mkdir(parents=True, exist_ok=True)
    write_demo_library(root, count)
    return list_media(root), False


def read_all(paths: Iterable[Path]) -> int:
    """Read every file once so all methods start with the same (warm) page cache."""
    return sum(len(path.read_bytes()) for path in paths)


def ffprobe_version_line() -> str:
    """Return the first line of `ffprobe -version`."""
    out = subprocess.run(["ffprobe", "-version"], capture_output=True, text=True, check=False)
    return out.stdout.splitlines()[0] if out.stdout else "ffprobe: unknown"


def ffprobe_startup_ms(samples: int = 20) -> float:
    """Return the median wall time of `ffprobe -version`: process start-up, no file opened."""
    times: list[float] = []
    for _ in range(samples):
        started = time.perf_counter()
        subprocess.run(["ffprobe", "-version"], capture_output=True, check=False)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def machine_info(processes: int) -> dict[str, Any]:
    """Describe the machine and the libraries under test (no paths)."""
    return {
        "cores": os.cpu_count(),
        "processes": processes,
        "python": platform.python_version(),
        "pyav": av.__version__,
        "pyav_ffmpeg": av.ffmpeg_version_info,
        "ffprobe": ffprobe_version_line(),
        "platform": f"{platform.system()} {platform.machine()}",
        "load_at_start": round(os.getloadavg()[0], 2),
    }


# --------------------------------------------------------------------------- report


def _row(method: str, files: int, runs: list[float]) -> Row:
    return Row(method, files, min(runs), [round(r, 4) for r in runs])


def add_ratios(rows: list[Row]) -> None:
    """Set each row's speed ratio to the sequential and the concurrent ffprobe baselines."""
    base, concurrent = rows[0].files_per_s, rows[1].files_per_s
    for row in rows:
        row.ratio = row.files_per_s / base
        row.ratio_concurrent = row.files_per_s / concurrent


def table(rows: Sequence[Row]) -> str:
    """Render the rows as a Markdown table."""
    lines = [
        "| method | files | seconds | files/s | vs baseline | vs ffprobe concurrent |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.method} | {r.files} | {r.seconds:.3f} | {r.files_per_s:.1f} "
            f"| {r.ratio:.2f}x | {r.ratio_concurrent or 0:.2f}x |"
        )
    return "\n".join(lines)


def _list_section(title: str, items: dict[str, list[str]], limit: int = 10) -> list[str]:
    lines = [f"{title}: " + ", ".join(f"{k} {len(v)}" for k, v in items.items())]
    for name, found in items.items():
        lines.extend(f"  [{name}] {item}" for item in found[:limit])
        if len(found) > limit:
            lines.append(f"  [{name}] ... {len(found) - limit} more")
    return lines


def render(report: Report) -> str:
    """Render the report for people."""
    m, c = report.machine, report.corpus
    lines = [
        f"machine: {m['cores']} cores, {m['platform']}, Python {m['python']}, "
        f"PyAV {m['pyav']} (FFmpeg {m['pyav_ffmpeg']}), {m['ffprobe']}; "
        f"1-min load average at start {m['load_at_start']}",
        f"corpus: {c['files']} files ({c['with_video']} with video, {c['audio_only']} audio-only)"
        f"{', reused' if c['reused'] else ', generated'}; pool processes: {m['processes']}",
        "",
        table(report.rows),
        "",
        *_list_section("failures", report.failures),
        *_list_section("disagreements vs baseline (codecs, dimensions, channels, rate)",
                       report.disagreements),
        *report.notes,
    ]  # fmt: skip
    return "\n".join(lines)


def as_json(report: Report) -> str:
    """Render the report as JSON."""
    data = asdict(report)
    for row, out in zip(report.rows, data["rows"], strict=True):
        out["files_per_s"] = round(row.files_per_s, 2)
    return json.dumps(data, indent=2)


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--files", type=int, default=480, help="corpus size (>= 400)")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeat", type=int, default=3, help="best of R runs per method")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--keep", type=Path, help="generate the corpus here, or reuse it")
    args = parser.parse_args(argv)
    if args.files < MIN_FILES:
        parser.error(f"--files must be at least {MIN_FILES}")
    if args.processes < 1 or args.repeat < 1:
        parser.error("--processes and --repeat must be at least 1")
    return args


@contextmanager
def corpus_dir(keep: Path | None) -> Iterator[Path]:
    """Yield the corpus directory: `keep`, or a temporary one removed afterwards."""
    if keep is not None:
        yield keep
        return
    with tempfile.TemporaryDirectory(prefix="mediashelf-bench-") as tmp:
        yield Path(tmp)


def measure(paths: list[Path], args: argparse.Namespace, root: Path, report: Report) -> None:
    """Run all methods over `paths` and fill `report`."""
    n, procs, repeat = len(paths), args.processes, args.repeat
    seq_t, seq = best_of(repeat, lambda: ffprobe_sequential(paths))
    con_t, con = best_of(repeat, lambda: ffprobe_concurrent(paths, procs))
    warmup = min(n, procs * 4)
    pool = run_pool(paths, procs, repeat, warmup)
    prober = PyAVProber()
    pyav_outcomes(prober, paths[:warmup])
    av_t, pyav = best_of(repeat, lambda: pyav_outcomes(prober, paths))
    report.rows = [
        _row("ffprobe per file, sequential (baseline)", n, seq_t),
        _row(f"ffprobe per file, {procs} concurrent", n, con_t),
        _row(f"chain via ProbePool({procs}), warm", n, pool.warm),
        _row(f"chain via ProbePool({procs}), cold incl. pool start", n, [pool.cold_s]),
        _row("pyav, single process", n, av_t),
    ]
    add_ratios(report.rows)
    check(report, root, seq, con, pool.outcomes, pyav)
    with_video = sum(1 for _, v in pool.outcomes if isinstance(v, ProbeResult) and v.has_video)
    report.corpus.update(files=n, with_video=with_video, audio_only=n - with_video)
    report.notes += [
        f"pool started and warmed up ({warmup} files) before timing; a new pool's first "
        f"result took {pool.first_result_s:.3f}s (forkserver + worker start + imports)",
        f"chain results answered by: {answered_by(pool.outcomes)}",
        *cost_notes(report.rows, pool, n, procs),
        f"best of {repeat} runs; every run (s):",
        *(f"  {r.method}: {r.runs}" for r in report.rows),
    ]


def cost_notes(rows: Sequence[Row], pool: PoolRun, files: int, procs: int) -> list[str]:
    """Explain where the time goes: ffprobe start-up and the pool's per-file overhead."""
    startup = ffprobe_startup_ms()
    per_ffprobe = rows[0].seconds / files * 1000
    per_pyav = rows[4].seconds / files * 1000
    per_pool = rows[2].seconds / files * 1000
    return [
        f"ffprobe: {per_ffprobe:.1f} ms/file, of which start-up alone "
        f"(`ffprobe -version`, median of 20) is {startup:.1f} ms",
        f"pyav in-process: {per_pyav:.3f} ms/file; chain via pool: {per_pool:.3f} ms/file wall "
        f"with {procs} workers; parent process CPU "
        f"{pool.parent_cpu_s / files * 1e6:.0f} us/file (pickling, futures, result threads)",
    ]


def check(
    report: Report,
    root: Path,
    seq: Outcomes[dict[str, Any]],
    con: Outcomes[dict[str, Any]],
    chain: Outcomes[ProbeResult],
    pyav: Outcomes[ProbeResult],
) -> None:
    """Record every failure of every method and the chain/pyav disagreements with ffprobe."""
    outcomes: dict[str, Outcomes[Any]] = {
        "ffprobe": seq,
        "ffprobe concurrent": con,
        "chain": chain,
        "pyav": pyav,
    }
    report.failures = {name: failures_of(out, root) for name, out in outcomes.items()}
    reference = _baseline_results(seq)
    report.disagreements = {
        "chain": disagreements(reference, chain, root),
        "pyav": disagreements(reference, pyav, root),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; exit 1 if any method failed on a file or disagreed with ffprobe."""
    args = parse_args(argv)
    report = Report(machine=machine_info(args.processes), corpus={})
    with corpus_dir(args.keep) as root:
        if not args.json:
            print(f"preparing corpus of {args.files} files ...", file=sys.stderr)
        paths, reused = ensure_corpus(root, args.files)
        report.corpus["reused"] = reused
        read_all(paths)
        measure(paths, args, root, report)
    print(as_json(report) if args.json else render(report))
    bad = any(report.failures.values()) or any(report.disagreements.values())
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
