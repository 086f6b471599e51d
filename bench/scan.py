"""Library scan: a full scan against ffprobe per file, and an unchanged rescan at 100,000 tracks.

Three parts, each measured once per run:

1. **Full scan.** A generated library (``--files``, default 2000 small clips from
   ``mediashelf.demo_library``) is scanned into a fresh SQLite database by mediashelf's
   ``library_scan`` job, run by an in-process worker exactly as ``mediashelf scan`` would
   (default probe chain through the ``ProbePool``, ``probe_processes`` = ``--processes``;
   the pool starts inside the job, so its start-up is counted). The baseline does what most
   media servers do: one ``ffprobe -show_format -show_streams`` process per file, its JSON
   parsed with ``parse_ffprobe_json`` and written to a fresh database of the same schema with
   mediashelf's ``TrackStore``/``plan_changes``/``apply_success``, one transaction per 200
   files. The baseline runs sequentially and with ``--processes`` concurrent ffprobes. Both
   databases must end with the same number of ``ok`` tracks and the same media fields.
2. **Unchanged rescan.** ``--tracks`` (default 100,000) files are made as hard links of one real
   clip (``--per-folder`` files per folder), and the database is seeded directly with a track
   per file whose fingerprint matches and whose status is ``ok``. A ``library_scan`` job then
   runs end to end in a child process of this script (``--child``), so its peak RSS
   (``VmHWM``) counts nothing of the parent's setup. Nothing changes, so the probe pool never
   starts.
3. **Flat memory.** The same child at ``--small-tracks`` (default 10,000) tracks; the ratio of
   the two peaks shows whether memory grows with the library.

Targets are printed next to the figures as PASS/MISS; the script does not assert them.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from itertools import islice
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy
from sqlalchemy import func, insert, select

from mediashelf.clock import SystemClock
from mediashelf.config import Settings
from mediashelf.db.migrate import upgrade
from mediashelf.db.schema import Job, Track
from mediashelf.db.session import Database
from mediashelf.demo_library import write_demo_library
from mediashelf.errors import ProbeCorrupt
from mediashelf.jobs.context import JobContext
from mediashelf.jobs.registry import JobOutcome
from mediashelf.jobs.service import create_job, get_job
from mediashelf.library.discovery import DiscoveredFile, walk
from mediashelf.library.ids import derived_id, title_for
from mediashelf.library.kinds import LIBRARY_SCAN
from mediashelf.library.new_track import NewTrack
from mediashelf.library.store import TrackStore
from mediashelf.library.update import (
    Fingerprint,
    apply_failure,
    apply_success,
    media_values,
    plan_changes,
)
from mediashelf.probe.ffprobe_backend import ffprobe_version, parse_ffprobe_json
from mediashelf.probe.normalize import NORMALIZER_VERSION
from mediashelf.runtime import Runtime
from probe import ffprobe_json, ffprobe_version_line, read_all  # bench/probe.py

BASELINE_BATCH = 200
SEED_CHUNK = 5000
MIN_FILES = 2000
COMPARED_FIELDS = (
    "container", "video_codec", "audio_codec", "width", "height", "audio_channels",
    "audio_sample_rate",
)  # fmt: skip
TARGET_SPEEDUP = 15.0
TARGET_UNCHANGED_S_PER_MILLION = 10.0  # the unchanged rescan target: 10 s for 1M tracks
TARGET_RSS_RATIO = 1.5
TARGET_PEAK_RSS_MIB = 300.0
JOB_TIMEOUT_S = 1800.0

T = TypeVar("T")


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Yield lists of `size` items (the last may be shorter); itertools.batched is 3.12+."""
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


# --------------------------------------------------------------------------- results


@dataclass
class ScanRow:
    """One line of the full-scan table."""

    method: str
    files: int
    seconds: float
    ok_tracks: int
    ratio: float = 0.0
    ratio_concurrent: float = 0.0

    @property
    def files_per_s(self) -> float:
        """Return throughput in files per second."""
        return self.files / self.seconds if self.seconds else 0.0


@dataclass
class ChildRun:
    """What one unchanged-scan child reported."""

    tracks: int
    seconds: float  # job created -> job seen completed (end to end)
    job_s: float  # the job's own started_at -> finished_at
    rss_start_mib: float  # VmRSS after imports and runtime set-up, before the job
    peak_rss_mib: float  # VmHWM at the end: peak of the whole child
    status: str
    counters: dict[str, Any]
    pool_started: bool


@dataclass
class Target:
    """One target and whether this run met it."""

    name: str
    value: float
    limit: str
    passed: bool


@dataclass
class Report:
    """Everything one benchmark run found."""

    machine: dict[str, Any]
    setup_s: dict[str, float] = field(default_factory=dict)
    full: list[ScanRow] = field(default_factory=list)
    unchanged: list[ChildRun] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- mediashelf's scan


def make_runtime(root: Path, url: str, processes: int) -> Runtime:
    """Return a runtime over `root` and `url` with default settings but the pool size."""
    settings = Settings(library=root, database_url=url, probe_processes=processes)
    return Runtime(settings=settings, db=Database(url))


def run_scan_job(runtime: Runtime) -> tuple[float, Job]:
    """Enqueue a library scan, let the (already started) worker run it; return (s, job)."""
    assert runtime.worker is not None
    started = time.perf_counter()
    with runtime.db.unit_of_work() as session:
        job_id = create_job(
            session, runtime.registry, runtime.clock, kind=LIBRARY_SCAN, params={},
            trigger="cli", actor="bench",
        ).id  # fmt: skip
    runtime.worker.wake()
    deadline = started + JOB_TIMEOUT_S
    while time.perf_counter() < deadline:
        with runtime.db.unit_of_work() as session:
            job = get_job(session, job_id)
        if job.status in ("completed", "failed", "cancelled"):
            return time.perf_counter() - started, job
        # Woken by the worker when the job ends; no polling that would take the GIL from it.
        runtime.wait_for_job_end(1.0)
    raise RuntimeError(f"library_scan job {job_id} did not end within {JOB_TIMEOUT_S:.0f}s")


def job_seconds(job: Job) -> float:
    """Return the job's own run time (started_at -> finished_at)."""
    if job.started_at is None or job.finished_at is None:
        return 0.0
    return (job.finished_at - job.started_at).total_seconds()


def mediashelf_full_scan(root: Path, url: str, processes: int) -> tuple[float, Job]:
    """Scan `root` into the fresh database `url` with a library_scan job."""
    runtime = make_runtime(root, url, processes)
    try:
        runtime.migrate()
        runtime.start_worker()
        return run_scan_job(runtime)
    finally:
        runtime.close()


# --------------------------------------------------------------------------- baseline


def _ffprobe_file(file: DiscoveredFile, root: Path) -> tuple[DiscoveredFile, dict[str, Any] | str]:
    try:
        return file, ffprobe_json(root / file.relpath)
    except (OSError, ValueError, RuntimeError, subprocess.SubprocessError) as exc:
        return file, f"{type(exc).__name__}: {exc}"


def _write_batch(
    db: Database, batch: Sequence[tuple[DiscoveredFile, dict[str, Any] | str]], prober: str
) -> None:
    """Insert one batch of probed files as tracks, in one transaction, as the scan does."""
    now = SystemClock().now()
    with db.unit_of_work() as session:
        store = TrackStore(session)
        taken = store.taken_ids([file.video_id for file, _ in batch])
        added: list[NewTrack] = []
        for file, data in batch:
            track = NewTrack.for_file(file, now)
            store.claim_id(track, taken)
            added.append(track)
            fingerprint = Fingerprint(file.size, file.mtime_ns)
            if isinstance(data, str):
                apply_failure(track, ProbeCorrupt(data), fingerprint, now)
                continue
            result = parse_ffprobe_json(data, file.size, prober)
            changes = plan_changes(
                media_values(track), result, refresh_duration=True, refresh_size=True
            )
            apply_success(track, result, changes, fingerprint, now)
        store.insert(added)


def baseline_scan(root: Path, url: str, processes: int) -> float:
    """Walk `root`, run one ffprobe per file (`processes` at a time), write tracks; return s."""
    db = Database(url)
    upgrade(db)
    prober = f"ffprobe {ffprobe_version()}"
    try:
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=processes) as executor:
            probed = executor.map(lambda f: _ffprobe_file(f, root), walk(root))
            for batch in batched(probed, BASELINE_BATCH):
                _write_batch(db, batch, prober)
        return time.perf_counter() - started
    finally:
        db.dispose()


# --------------------------------------------------------------------------- checks


def ok_tracks(url: str) -> dict[str, tuple[Any, ...]]:
    """Return the compared media fields of every `ok` track, keyed by relpath."""
    db = Database(url)
    columns = [getattr(Track, name) for name in COMPARED_FIELDS]
    try:
        with db.unit_of_work() as session:
            rows = session.execute(
                select(Track.relpath, *columns).where(Track.probe_status == "ok")
            ).all()
    finally:
        db.dispose()
    return {row[0]: tuple(row[1:]) for row in rows}


def compare(mine: dict[str, tuple[Any, ...]], base: dict[str, tuple[Any, ...]]) -> list[str]:
    """List relpaths that are ok in one database only or whose media fields differ."""
    found = [f"ok only in the scan: {p}" for p in sorted(mine.keys() - base.keys())]
    found += [f"ok only in the baseline: {p}" for p in sorted(base.keys() - mine.keys())]
    for path in sorted(mine.keys() & base.keys()):
        if mine[path] != base[path]:
            found.append(f"{path}: scan {mine[path]} != baseline {base[path]}")
    return found


# --------------------------------------------------------------------------- part 1


def run_full(work: Path, files: int, processes: int, report: Report) -> None:
    """Generate the library, then time the scan job and both baselines over it."""
    root = work / "full"
    started = time.perf_counter()
    write_demo_library(root, files)
    report.setup_s["generate_full_library"] = round(time.perf_counter() - started, 2)
    read_all(path for path in root.rglob("*") if path.is_file())
    urls = {name: f"sqlite:///{work / name}.db" for name in ("scan", "seq", "conc")}
    scan_s, job = mediashelf_full_scan(root, urls["scan"], processes)
    seq_s = baseline_scan(root, urls["seq"], 1)
    conc_s = baseline_scan(root, urls["conc"], processes)
    found = {name: ok_tracks(url) for name, url in urls.items()}
    report.full = [
        ScanRow("ffprobe per file, sequential (baseline)", files, seq_s, len(found["seq"])),
        ScanRow(f"ffprobe per file, {processes} concurrent", files, conc_s, len(found["conc"])),
        ScanRow(f"mediashelf library_scan (ProbePool({processes}))", files, scan_s,
                len(found["scan"])),
    ]  # fmt: skip
    for row in report.full:
        row.ratio = row.files_per_s / report.full[0].files_per_s
        row.ratio_concurrent = row.files_per_s / report.full[1].files_per_s
    check_full(report, job, found, files)


def check_full(report: Report, job: Job, found: dict[str, Any], files: int) -> None:
    """Record disagreements between the scan and the baselines, and the job's counters."""
    result = job.result or {}
    report.notes.append(
        f"full scan job: status {job.status}, own run time {job_seconds(job):.2f}s, "
        f"added {result.get('added')}, failed {result.get('failed')}; {job.summary}"
    )
    if job.status != "completed" or result.get("added") != files:
        report.problems.append(f"full scan job: {job.status}, result {result}, error {job.error}")
    for name in ("seq", "conc"):
        report.problems += [f"vs {name}: {d}" for d in compare(found["scan"], found[name])[:10]]


# --------------------------------------------------------------------------- parts 2 and 3


def source_clip(work: Path) -> Path:
    """Encode one real clip with the demo library generator and return its path."""
    clip_root = work / "clip"
    write_demo_library(clip_root, 1)
    return next(path for path in sorted(clip_root.rglob("*")) if path.is_file())


def link_library(
    root: Path, source: Path, count: int, per_folder: int
) -> Iterator[tuple[str, os.stat_result]]:
    """Make `count` files under `root`, `per_folder` per folder; yield (relpath, stat).

    The first file of each folder is a copy of `source` (same size and mtime), the others are
    hard links to it: one inode per folder stays under the file system's link limit.
    """
    first, info = source, source.stat()
    for n in range(count):
        folder, index = divmod(n, per_folder)
        relpath = f"Artist {folder:04d}/{index:05d} - Track {n}{source.suffix}"
        path = root / relpath
        if index == 0:
            path.parent.mkdir(parents=True, exist_ok=True)
            first = Path(shutil.copy2(source, path))
            info = first.stat()
        else:
            os.link(first, path)
        yield relpath, info


def seed_rows(
    files: Iterable[tuple[str, os.stat_result]], filetype: str, media: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    """Yield one `ok` track row per file, its fingerprint matching the file on disk."""
    now = SystemClock().now()
    for relpath, info in files:
        yield {
            **media, "video_id": derived_id(relpath), "relpath": relpath,
            "title": title_for(relpath), "filetype": filetype,
            "fingerprint_size": info.st_size, "fingerprint_mtime_ns": info.st_mtime_ns,
            "probe_status": "ok", "prober": "ffprobe", "probe_ms": 1.0, "probed_at": now,
            "probe_version": NORMALIZER_VERSION, "probe_failures": 0, "added_at": now,
            "updated_at": now,
        }  # fmt: skip


def build_unchanged(work: Path, name: str, source: Path, count: int, per_folder: int) -> str:
    """Make a library of `count` linked files and a database that knows them all; return url."""
    root, url = work / name, f"sqlite:///{work / name}.db"
    media = parse_ffprobe_json(ffprobe_json(source), source.stat().st_size, "ffprobe")
    db = Database(url)
    try:
        upgrade(db)
        files = link_library(root, source, count, per_folder)
        rows = seed_rows(files, source.suffix[1:].lower(), media.media_fields())
        for chunk in batched(rows, SEED_CHUNK):
            with db.engine.begin() as conn:
                conn.execute(insert(Track), chunk)
        with db.unit_of_work() as session:
            seeded = session.scalar(select(func.count()).select_from(Track))
    finally:
        db.dispose()
    if seeded != count:
        raise RuntimeError(f"seeded {seeded} tracks, wanted {count}")
    return url


def run_child(root: Path, url: str, processes: int, profile: Path | None) -> ChildRun:
    """Start this script as a child that scans `root` once and reports time and memory."""
    command = [sys.executable, __file__, "--child", str(root), url, "--processes", str(processes)]
    if profile is not None:
        command += ["--profile", str(profile)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"scan child failed ({done.returncode}): {done.stderr[-2000:]}")
    return ChildRun(**json.loads(done.stdout))


def run_unchanged(work: Path, args: argparse.Namespace, report: Report) -> None:
    """Build the small and the large unchanged libraries and scan each in a child process."""
    source = source_clip(work)
    runs: list[ChildRun] = []
    for count in (args.small_tracks, args.tracks):
        started = time.perf_counter()
        url = build_unchanged(work, f"unchanged-{count}", source, count, args.per_folder)
        report.setup_s[f"build_unchanged_{count}"] = round(time.perf_counter() - started, 2)
        runs.append(run_child(work / f"unchanged-{count}", url, args.processes, None))
    if args.profile is not None:  # an extra run, so that the timed ones carry no profiler
        run_child(work / f"unchanged-{args.tracks}", url, args.processes, args.profile)
    report.unchanged = runs
    for run in runs:
        unchanged = run.counters.get("unchanged")
        if run.status != "completed" or unchanged != run.tracks or run.pool_started:
            report.problems.append(
                f"unchanged scan of {run.tracks}: {run.status}, unchanged {unchanged}, "
                f"pool started {run.pool_started}"
            )


# --------------------------------------------------------------------------- child


def proc_status_mib(key: str) -> float:
    """Return a /proc/self/status memory line (VmRSS, VmHWM) in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def profiled(runtime: Runtime, target: Path) -> None:
    """Wrap the scan handler so that its worker thread runs under cProfile into `target`."""
    kind = runtime.registry.get(LIBRARY_SCAN)
    handler = kind.handler

    def run(ctx: JobContext) -> JobOutcome | None:
        profiler = cProfile.Profile()
        try:
            return profiler.runcall(handler, ctx)
        finally:
            profiler.dump_stats(target)

    runtime.registry.register(replace(kind, handler=run))


def child_main(root: Path, url: str, processes: int, profile: Path | None) -> int:
    """Scan `root` once with a fresh runtime; print a ChildRun as JSON."""
    runtime = make_runtime(root, url, processes)
    try:
        if profile is not None:
            profiled(runtime, profile)
        runtime.start_worker()
        rss_start = proc_status_mib("VmRSS")
        seconds, job = run_scan_job(runtime)
        peak = proc_status_mib("VmHWM")
        pool_started = runtime._pool is not None
    finally:
        runtime.close()
    result = job.result or {}
    run = ChildRun(
        tracks=int(result.get("total", 0)), seconds=seconds, job_s=job_seconds(job),
        rss_start_mib=rss_start, peak_rss_mib=peak, status=job.status, counters=result,
        pool_started=pool_started,
    )  # fmt: skip
    print(json.dumps(asdict(run)))
    return 0


# --------------------------------------------------------------------------- report


def judge_targets(report: Report) -> None:
    """Compare the figures with the targets."""
    targets: list[Target] = []
    if report.full:
        speedup = report.full[2].ratio
        targets.append(Target("full scan vs sequential ffprobe", speedup,
                              f">= {TARGET_SPEEDUP:g}x", speedup >= TARGET_SPEEDUP))  # fmt: skip
    if report.unchanged:
        small, large = report.unchanged[0], report.unchanged[-1]
        limit_s = TARGET_UNCHANGED_S_PER_MILLION * large.tracks / 1_000_000
        targets.append(Target(f"unchanged scan of {large.tracks} tracks (s)", large.seconds,
                              f"<= {limit_s:g} s", large.seconds <= limit_s))  # fmt: skip
        targets.append(Target(f"peak RSS at {large.tracks} tracks (MiB)", large.peak_rss_mib,
                              f"<= {TARGET_PEAK_RSS_MIB:g}",
                              large.peak_rss_mib <= TARGET_PEAK_RSS_MIB))  # fmt: skip
        ratio = large.peak_rss_mib / small.peak_rss_mib
        targets.append(Target(f"peak RSS {large.tracks} / {small.tracks} tracks", ratio,
                              f"<= {TARGET_RSS_RATIO:g}", ratio <= TARGET_RSS_RATIO))  # fmt: skip
    report.targets = targets


def full_table(rows: Sequence[ScanRow]) -> list[str]:
    """Render the full-scan rows as a Markdown table."""
    lines = [
        "| method | files | ok tracks | seconds | files/s | vs sequential | vs concurrent |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r.method} | {r.files} | {r.ok_tracks} | {r.seconds:.2f} | {r.files_per_s:.1f} "
        f"| {r.ratio:.2f}x | {r.ratio_concurrent:.2f}x |"
        for r in rows
    ]
    return lines


def unchanged_table(runs: Sequence[ChildRun]) -> list[str]:
    """Render the unchanged-scan children as a Markdown table."""
    lines = [
        "| unchanged scan | tracks | end to end s | job s | tracks/s | RSS before MiB "
        "| peak RSS MiB | peak - before MiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| child process | {r.tracks} | {r.seconds:.2f} | {r.job_s:.2f} "
        f"| {r.tracks / r.seconds:.0f} | {r.rss_start_mib:.1f} | {r.peak_rss_mib:.1f} "
        f"| {r.peak_rss_mib - r.rss_start_mib:.1f} |"
        for r in runs
    ]
    return lines


def target_table(targets: Sequence[Target]) -> list[str]:
    """Render the targets with PASS/MISS."""
    lines = ["| target | value | limit | verdict |", "|---|---:|---:|---|"]
    lines += [
        f"| {t.name} | {t.value:.2f} | {t.limit} | {'PASS' if t.passed else 'MISS'} |"
        for t in targets
    ]
    return lines


def render(report: Report) -> str:
    """Render the report for people."""
    m = report.machine
    lines = [
        f"machine: {m['cores']} cores, {m['platform']}, Python {m['python']}, SQLite {m['sqlite']}"
        f", SQLAlchemy {m['sqlalchemy']}, {m['ffprobe']}; 1-min load average at start "
        f"{m['load_at_start']}; probe processes {m['processes']}",
        f"set-up (s, not timed): {report.setup_s}",
        "",
    ]
    if report.full:
        lines += [*full_table(report.full), ""]
    if report.unchanged:
        lines += [*unchanged_table(report.unchanged), ""]
    lines += [*target_table(report.targets), ""]
    lines += [f"problems: {len(report.problems)}", *(f"  {p}" for p in report.problems)]
    return "\n".join([*lines, *report.notes])


def as_json(report: Report) -> str:
    """Render the report as JSON."""
    data = asdict(report)
    for row, out in zip(report.full, data["full"], strict=True):
        out["files_per_s"] = round(row.files_per_s, 2)
    return json.dumps(data, indent=2)


def profile_notes(path: Path, limit: int = 15) -> list[str]:
    """Return the top `limit` functions of a cProfile dump by cumulative time."""
    out = io.StringIO()
    stats = pstats.Stats(str(path), stream=out)
    stats.strip_dirs().sort_stats("cumulative").print_stats(limit)
    return ["", f"cProfile of the largest unchanged scan (top {limit} by cumtime):",
            *out.getvalue().splitlines()]  # fmt: skip


def machine_info(processes: int) -> dict[str, Any]:
    """Describe the machine and the libraries under test (no paths)."""
    return {
        "cores": os.cpu_count(),
        "processes": processes,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "sqlalchemy": sqlalchemy.__version__,
        "ffprobe": ffprobe_version_line(),
        "platform": f"{platform.system()} {platform.machine()}",
        "load_at_start": round(os.getloadavg()[0], 2),
    }


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    add = parser.add_argument
    add("--files", type=int, default=2000, help=f"full-scan library size (>= {MIN_FILES})")
    add("--tracks", type=int, default=100_000, help="unchanged-scan library size")
    add("--small-tracks", type=int, default=10_000, help="the smaller one for the RSS ratio")
    add("--per-folder", type=int, default=1000, help="files per folder of the linked libraries")
    add("--processes", type=int, default=os.cpu_count() or 1, help="probe pool / ffprobe procs")
    add("--parts", default="full,unchanged", help="which parts to run: full, unchanged")
    add("--profile", type=Path, help="rerun the largest unchanged scan under cProfile, to FILE")
    add("--keep", type=Path, help="work in this (empty) folder and keep it")
    add("--json", action="store_true", help="machine-readable output")
    add("--child", nargs=2, metavar=("ROOT", "URL"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.files < MIN_FILES and args.child is None:
        parser.error(f"--files must be at least {MIN_FILES}")
    if min(args.processes, args.small_tracks, args.per_folder) < 1:
        parser.error("--processes, --small-tracks and --per-folder must be at least 1")
    if args.tracks < args.small_tracks:
        parser.error("--tracks must be at least --small-tracks")
    return args


@contextmanager
def work_dir(keep: Path | None) -> Iterator[Path]:
    """Yield the work folder: `keep`, or a temporary one removed afterwards."""
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep
        return
    with tempfile.TemporaryDirectory(prefix="mediashelf-scan-bench-") as tmp:
        yield Path(tmp)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; exit 1 if a scan failed or disagreed with the baseline."""
    args = parse_args(argv)
    if args.child is not None:
        return child_main(Path(args.child[0]), args.child[1], args.processes, args.profile)
    parts = set(args.parts.split(","))
    report = Report(machine=machine_info(args.processes))
    with work_dir(args.keep) as work:
        if "full" in parts:
            run_full(work, args.files, args.processes, report)
        if "unchanged" in parts:
            run_unchanged(work, args, report)
    judge_targets(report)
    if args.profile is not None and "unchanged" in parts:
        report.notes += profile_notes(args.profile)
    print(as_json(report) if args.json else render(report))
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
