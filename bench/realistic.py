"""Probing a realistic library: mediashelf against ffprobe, MediaInfo and mutagen, warm and cold.

The corpus (``realistic_corpus``) is shaped like a real library: albums of MP3, FLAC 16/24-bit,
M4A AAC/ALAC, Opus and WAV with ~430 KB covers, and 1080p H.264 MP4 (index at the end and at
the start), HEVC MKV with three audio and two subtitle tracks, H.264 MPEG-TS and VP9 WebM.

Every method runs in a child process of this script, over every file, in three modes:

- warm: every file read once before, so the page cache holds the whole library;
- cold: every file's pages evicted (``posix_fadvise(POSIX_FADV_DONTNEED)``) right before the run;
- throttled: cold, on a copy of the library in an ext4 image on a loop device (direct I/O)
  whose reads a cgroup v1 ``blkio.throttle.read_bps_device`` rule limits to ``--throttle-mbps``.
  This needs root, loop devices and the blkio controller; without them the figure is
  modelled (storage bytes of the cold run / rate + the warm run's time) and labelled so.

Storage bytes per method come from the child's blkio cgroup counters (``io_service_bytes``),
which include every process the method starts (pool workers, ffprobe, the scan CLI).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import realistic_corpus as corpus
import realistic_methods as methods

CGROUP_ROOT = Path("/sys/fs/cgroup/blkio")
UNLIMITED = 10**12  # bytes/s: blkio v1 counts a device's reads only while it has a rule
MODES = ("warm", "cold", "throttled")


@dataclass
class Run:
    """One method in one mode."""

    method: str
    mode: str
    files: int
    seconds: float
    failures: int
    storage_bytes: int | None = None
    modelled: bool = False
    job_seconds: float | None = None
    ratio_seq: float = 0.0
    ratio_conc: float = 0.0

    @property
    def files_per_s(self) -> float:
        """Return throughput."""
        return self.files / self.seconds if self.seconds else 0.0


@dataclass
class Report:
    """Everything one benchmark run found."""

    machine: dict[str, Any]
    corpus: dict[str, Any] = field(default_factory=dict)
    runs: list[Run] = field(default_factory=list)
    per_format: dict[str, dict[str, float]] = field(default_factory=dict)
    checks: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- cgroup and throttle


class Cgroup:
    """A blkio cgroup the children join: it counts their storage reads and may throttle them."""

    def __init__(self) -> None:
        self.path = CGROUP_ROOT / f"mediashelf-bench-{os.getpid()}"
        self.path.mkdir()

    def limit(self, device: str, bytes_per_s: int = UNLIMITED) -> None:
        """Throttle reads from `device` ("7:0"); a rule, even UNLIMITED, turns counting on."""
        (self.path / "blkio.throttle.read_bps_device").write_text(f"{device} {bytes_per_s}\n")

    def read_bytes(self) -> int:
        """Return the bytes the members have read from storage (a running total)."""
        text = (self.path / "blkio.throttle.io_service_bytes").read_text()
        rows = [line.split() for line in text.splitlines()]
        return sum(int(r[2]) for r in rows if len(r) == 3 and r[1] == "Read")

    def remove(self) -> None:
        """Remove the cgroup (it is empty once the children ended)."""
        with contextlib.suppress(OSError):
            self.path.rmdir()


def open_cgroup() -> Cgroup | None:
    """Return a new blkio cgroup, or None where there is no blkio controller or no root."""
    try:
        return Cgroup() if CGROUP_ROOT.is_dir() else None
    except OSError:
        return None


def block_device(path: Path) -> str:
    """Return "major:minor" of the disk holding `path` (the whole disk for a partition)."""
    dev = os.stat(path).st_dev
    node = Path(f"/sys/dev/block/{os.major(dev)}:{os.minor(dev)}")
    if (node / "partition").exists():
        return (node.resolve().parent / "dev").read_text().strip()
    return f"{os.major(dev)}:{os.minor(dev)}"


def _sh(*command: str) -> str:
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()


@contextlib.contextmanager
def throttled_copy(library: Path, work: Path) -> Iterator[tuple[Path, str]]:
    """Copy `library` into an ext4 image on a loop device; yield (its root, "major:minor")."""
    size = sum(p.stat().st_size for p in library.rglob("*") if p.is_file())
    image, mount = work / "throttle.img", work / "throttle-mnt"
    image.unlink(missing_ok=True)
    image.touch()
    os.truncate(image, int(size * 1.1) + (512 << 20))
    _sh("mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0", str(image))
    loop = _sh("losetup", "-f", "--show", "--direct-io=on", str(image))
    mount.mkdir(exist_ok=True)
    try:
        _sh("mount", loop, str(mount))
        try:
            _sh("cp", "-a", str(library), str(mount / "library"))
            os.sync()
            device = Path(f"/sys/block/{Path(loop).name}/dev").read_text().strip()
            yield mount / "library", device
        finally:
            _sh("umount", str(mount))
    finally:
        _sh("losetup", "-d", loop)
        image.unlink(missing_ok=True)


# --------------------------------------------------------------------------- children


def run_child(method: str, root: Path, mode: str, args: argparse.Namespace,
              cgroup: Cgroup | None) -> dict[str, Any]:  # fmt: skip
    """Run one method in a child process (in `cgroup`); return what it printed."""
    repeat = 1 if mode == "throttled" else args.repeat
    command = [sys.executable, __file__, "--child", method, str(root), "--processes",
               str(args.processes), "--evict" if mode != "warm" else "--no-evict",
               "--repeat", str(repeat)]  # fmt: skip
    before = 0
    if cgroup is not None:
        command += ["--cgroup", str(cgroup.path)]
        before = cgroup.read_bytes()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{method} ({mode}) failed: {done.stderr[-3000:]}")
    data: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    if cgroup is not None:
        data["storage_bytes"] = (cgroup.read_bytes() - before) // repeat
    return data


def child_main(
    method: str, root: Path, processes: int, evict: bool, cgroup: str | None, repeat: int
) -> int:
    """Join the cgroup, then `repeat` times: evict pages if asked and time `method`; print JSON.

    Storage bytes (counted by the parent) cover all repeats; the parent divides them.
    """
    if cgroup:
        Path(cgroup, "cgroup.procs").write_text(f"{os.getpid()}\n")
    files = methods.library_files(root, methods.AUDIO_ONLY.get(method, False))
    runner = methods.RUNNERS[method]
    prepared = runner.prepare(files, processes)
    runs: list[float] = []
    try:
        for _ in range(repeat):
            if evict:
                methods.evict(files)
            started = time.perf_counter()
            outcome = runner.run(prepared, files, root)
            runs.append(time.perf_counter() - started)
    finally:
        runner.close(prepared)
    print(json.dumps({"seconds": min(runs), "runs": runs, "files": len(files), **outcome}))
    return 0


# --------------------------------------------------------------------------- measuring


def measure(library: Path, args: argparse.Namespace, report: Report) -> None:
    """Run every method warm, cold and throttled, and fill `report`."""
    cgroup = open_cgroup()
    if cgroup is not None:
        with contextlib.suppress(OSError):
            cgroup.limit(block_device(library))
    wanted = [m for m in methods.RUNNERS if m in args.methods.split(",")]
    outcomes: dict[str, dict[str, Any]] = {}
    try:
        for mode in ("warm", "cold"):
            if mode == "warm":
                methods.read_all(methods.library_files(library, False))
            for method in wanted:
                data = run_child(method, library, mode, args, cgroup)
                report.runs.append(_run(method, mode, data))
                outcomes.setdefault(method, data)
        if args.throttle_mbps > 0:
            throttled(library, args, wanted, cgroup, report)
    finally:
        if cgroup is not None:
            cgroup.remove()
    report.checks = methods.compare(outcomes)
    add_ratios(report.runs)


def throttled(library: Path, args: argparse.Namespace, wanted: Sequence[str],
              cgroup: Cgroup | None, report: Report) -> None:  # fmt: skip
    """Run every method cold on the throttled copy; model the figures when that cannot be."""
    rate = int(args.throttle_mbps * 1_000_000)
    try:
        if cgroup is None:
            raise OSError("no blkio cgroup")
        with throttled_copy(library, args.work) as (root, device):
            cgroup.limit(device, rate)
            report.notes.append(f"throttle: ext4 image on a loop device {device} (direct I/O), "
                                f"blkio read_bps_device = {rate} B/s")  # fmt: skip
            for method in wanted:
                data = run_child(method, root, "throttled", args, cgroup)
                report.runs.append(_run(method, "throttled", data))
            cgroup.limit(device, UNLIMITED)
    except (OSError, subprocess.CalledProcessError) as exc:
        report.notes.append(f"throttle unavailable ({exc}): the throttled rows are MODELLED as "
                            "cold storage bytes / rate + warm seconds")  # fmt: skip
        report.runs += [modelled(r, report.runs, rate) for r in report.runs if r.mode == "cold"]


def modelled(cold: Run, runs: Sequence[Run], rate: int) -> Run:
    """Return the modelled throttled run: cold storage bytes at `rate` plus the warm time."""
    warm = next(r for r in runs if r.method == cold.method and r.mode == "warm")
    seconds = (cold.storage_bytes or 0) / rate + warm.seconds
    return Run(cold.method, "throttled", cold.files, seconds, cold.failures,
               cold.storage_bytes, modelled=True)  # fmt: skip


def _run(method: str, mode: str, data: dict[str, Any]) -> Run:
    return Run(method, mode, data["files"], data["seconds"], len(data.get("failures", [])),
               data.get("storage_bytes"), job_seconds=data.get("job_seconds"))  # fmt: skip


def add_ratios(runs: list[Run]) -> None:
    """Set each run's ratio to the sequential and concurrent ffprobe runs of its mode."""
    for mode in MODES:
        base = {r.method: r for r in runs if r.mode == mode}
        seq, conc = base.get("ffprobe-seq"), base.get("ffprobe-conc")
        for run in base.values():
            per_file = run.seconds / run.files if run.files else 0.0
            if seq and per_file:
                run.ratio_seq = (seq.seconds / seq.files) / per_file
            if conc and per_file:
                run.ratio_conc = (conc.seconds / conc.files) / per_file


def per_format(files: Sequence[Path], library: Path, report: Report) -> None:
    """Median ms per file (pyav fast, pyav full, ffprobe) and bytes read per file, by format."""
    by: dict[str, list[dict[str, float]]] = defaultdict(list)
    methods.read_all(files)
    for path in files:
        by[corpus.format_label(path.relative_to(library))].append(methods.per_file(path))
    report.per_format = {
        label: {key: statistics.median(row[key] for row in rows) for key in rows[0]}
        | {"files": len(rows)}
        for label, rows in sorted(by.items())
    }


# --------------------------------------------------------------------------- report


def render(report: Report) -> str:
    """Render the report as Markdown tables."""
    m, c = report.machine, report.corpus
    lines = [
        f"machine: {m['cores']} cores, {m['platform']}, Python {m['python']}, "
        f"PyAV {m['pyav']}, {m['ffprobe']}; load average at start {m['load']}; "
        f"pool/concurrency N = {m['processes']}",
        f"corpus: {c['files']} files ({c['audio']} audio, {c['video']} video), "
        f"{c['bytes'] / 1e9:.2f} GB{', reused' if c['reused'] else ''}",
        "",
        "| mode | method | files | seconds | files/s | vs ffprobe seq | vs ffprobe N | "
        "storage MB read | KB/file |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report.runs:
        kb = f"{r.storage_bytes / r.files / 1024:.0f}" if r.storage_bytes is not None else "-"
        mb = f"{r.storage_bytes / 1e6:.1f}" if r.storage_bytes is not None else "-"
        mode = f"{r.mode} (modelled)" if r.modelled else r.mode
        job = f" (job {r.job_seconds:.2f} s)" if r.job_seconds else ""
        lines.append(f"| {mode} | {r.method}{job} | {r.files} | {r.seconds:.2f} "
                     f"| {r.files_per_s:.1f} | {r.ratio_seq:.1f}x | {r.ratio_conc:.1f}x "
                     f"| {mb} | {kb} |")  # fmt: skip
    lines += [
        "",
        "| format | files | pyav fast ms | pyav full ms | ffprobe ms | KB read per probe "
        "| second pass |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, row in report.per_format.items():
        lines.append(f"| {label} | {row['files']:.0f} | {row['fast_ms']:.2f} "
                     f"| {row['full_ms']:.2f} | {row['ffprobe_ms']:.1f} "
                     f"| {row['fast_kb']:.1f} | {row['second_pass']:.0%} |")  # fmt: skip
    lines += ["", f"checks: {json.dumps(report.checks)}", *report.notes]
    return "\n".join(lines)


def machine_info(processes: int) -> dict[str, Any]:
    """Describe the machine (no paths)."""
    import av

    version = _sh("ffprobe", "-version").splitlines()[0]
    return {"cores": os.cpu_count(), "processes": processes, "python": platform.python_version(),
            "pyav": f"{av.__version__} (FFmpeg {av.ffmpeg_version_info})", "ffprobe": version,
            "platform": f"{platform.system()} {platform.machine()}",
            "load": round(os.getloadavg()[0], 2), "date": datetime.now().isoformat()}  # fmt: skip


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    add = parser.add_argument
    add("--keep", type=Path, help="write the corpus here, or reuse it")
    add("--scale", type=float, default=1.0, help="corpus size factor (1.0: about 4 GB)")
    add("--processes", type=int, default=os.cpu_count() or 1)
    add("--repeat", type=int, default=3, help="warm and cold runs per method (best is shown)")
    add("--throttle-mbps", type=float, default=20.0, help="0: no throttled runs")
    add("--methods", default=",".join(methods.RUNNERS), help="comma-separated subset")
    add("--json", action="store_true")
    add("--child", nargs=2, metavar=("METHOD", "ROOT"), help=argparse.SUPPRESS)
    add("--evict", action=argparse.BooleanOptionalAction, default=False, help=argparse.SUPPRESS)
    add("--cgroup", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Build or reuse the corpus, run every method in every mode, print the report."""
    args = parse_args(argv)
    if args.child:
        return child_main(args.child[0], Path(args.child[1]), args.processes, args.evict,
                          args.cgroup, args.repeat)  # fmt: skip
    with _work_dir(args.keep) as work:
        args.work = work
        started = time.perf_counter()
        files, reused = corpus.ensure_corpus(work, args.scale)
        library = work / "library"
        os.sync()
        report = Report(machine_info(args.processes))
        audio = sum(1 for f in files if "Videos" not in f.parts)
        report.corpus = {"files": len(files), "audio": audio, "video": len(files) - audio,
                         "bytes": sum(f.stat().st_size for f in files), "reused": reused,
                         "setup_s": round(time.perf_counter() - started, 1)}  # fmt: skip
        measure(library, args, report)
        per_format(files, library, report)
    print(json.dumps(asdict(report), indent=2) if args.json else render(report))
    return 1 if report.checks.get("problems") else 0


@contextlib.contextmanager
def _work_dir(keep: Path | None) -> Iterator[Path]:
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep
        return
    with tempfile.TemporaryDirectory(prefix="mediashelf-realistic-") as tmp:
        yield Path(tmp)


if __name__ == "__main__":
    sys.exit(main())
