"""Integrity verification: decode throughput of the isolated pool, against `ffmpeg -f null`.

A small library shaped like real files (album tracks: FLAC and MP3 of `--audio-s` seconds,
and H.264 video at `--video-size` of `--video-s` seconds) is generated with PyAV, then every
file is decoded completely, as the `library_verify` job does, through `ProbePool.decode_many`
with `--processes` workers. The baseline is what people run by hand: `ffmpeg -v error -i FILE
-f null -`, one process per file, `--processes` at a time. Reported: MB/s read, seconds of
media decoded per second of wall time (x real time), files/s, and the errors each found
(both must find none on the generated files).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import av

from mediashelf.config import Settings
from mediashelf.demo_library import ClipSpec, write_clip
from mediashelf.probe.chain import build_chain
from mediashelf.probe.decode import DecodeReport
from mediashelf.probe.pool import ProbePool


def make_corpus(root: Path, args: argparse.Namespace) -> list[tuple[Path, float]]:
    """Write the corpus (reused when present); return (path, duration) pairs."""
    width, height = (int(v) for v in args.video_size.split("x"))
    specs: list[tuple[str, ClipSpec]] = []
    for i in range(args.tracks):
        specs.append((f"album/{i:02d}.flac", ClipSpec("flac", audio_codec="flac",
                      duration_s=args.audio_s, seed=i)))  # fmt: skip
        specs.append((f"album/{i:02d}.mp3", ClipSpec("mp3", audio_codec="libmp3lame",
                      duration_s=args.audio_s, seed=i)))  # fmt: skip
    for i in range(args.videos):
        specs.append((f"video/{i:02d}.mp4", ClipSpec("mp4", video_codec="libx264",
                      audio_codec="aac", width=width, height=height, fps=25,
                      duration_s=args.video_s, seed=i)))  # fmt: skip
    files = []
    for relpath, spec in specs:
        path = root / relpath
        if not path.exists():
            write_clip(path, spec)
        files.append((path, spec.duration_s))
    return files


def run_pool(files: list[tuple[Path, float]], processes: int) -> dict[str, Any]:
    """Decode every file through the pool; return timings and error counts."""
    pool = ProbePool.for_chain(build_chain(Settings()), processes)
    try:
        start = time.perf_counter()
        reports = list(pool.decode_many((path, 30 + duration) for path, duration in files))
        seconds = time.perf_counter() - start
    finally:
        pool.close()
    failures = [str(path) for path, r in reports if not isinstance(r, DecodeReport)]
    errors = sum(r.errors for _, r in reports if isinstance(r, DecodeReport))
    return {"seconds": seconds, "failures": failures, "errors": errors}


def run_ffmpeg(files: list[tuple[Path, float]], processes: int, binary: str) -> dict[str, Any]:
    """Decode every file with one `ffmpeg -f null` process each."""

    def one(path: Path) -> int:
        done = subprocess.run([binary, "-v", "error", "-nostdin", "-i", str(path), "-f", "null",
                               "-"], capture_output=True, check=False)  # fmt: skip
        return len(done.stderr.decode(errors="replace").splitlines())

    start = time.perf_counter()
    with ThreadPoolExecutor(processes) as threads:
        errors = sum(threads.map(one, [path for path, _ in files]))
    return {"seconds": time.perf_counter() - start, "failures": [], "errors": errors}


def figures(result: dict[str, Any], files: list[tuple[Path, float]]) -> dict[str, Any]:
    """Add MB/s, x real time and files/s to a run's result."""
    megabytes = sum(path.stat().st_size for path, _ in files) / 1e6
    media = sum(duration for _, duration in files)
    seconds = result["seconds"]
    return {**result, "mb_per_s": round(megabytes / seconds, 1),
            "x_realtime": round(media / seconds, 1), "files_per_s": round(len(files) / seconds, 2),
            "megabytes": round(megabytes, 1), "media_s": media}  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print a table (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tracks", type=int, default=6, help="FLAC and MP3 tracks each")
    parser.add_argument("--audio-s", type=float, default=180.0)
    parser.add_argument("--videos", type=int, default=2)
    parser.add_argument("--video-s", type=float, default=20.0)
    parser.add_argument("--video-size", default="1920x1080")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--keep", type=Path, help="corpus folder, reused when present")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    root = args.keep or Path(tempfile.mkdtemp(prefix="verify-bench-"))
    files = make_corpus(root, args)
    for path, _ in files:  # warm the page cache for both methods
        path.read_bytes()
    results = {"pool": figures(run_pool(files, args.processes), files)}
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg:
        results["ffmpeg"] = figures(run_ffmpeg(files, args.processes, ffmpeg), files)
    meta = {"cores": os.cpu_count(), "processes": args.processes, "files": len(files),
            "python": platform.python_version(), "pyav": av.__version__}  # fmt: skip
    if args.json:
        print(json.dumps({"meta": meta, "results": results}, indent=2))
    else:
        print(f"{meta}")
        print("| method | files | MB | seconds | MB/s | x real time | files/s | errors |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for name, r in results.items():
            print(
                f"| {name} | {len(files)} | {r['megabytes']} | {r['seconds']:.2f} | "
                f"{r['mb_per_s']} | {r['x_realtime']} | {r['files_per_s']} | {r['errors']} |"
            )
    if args.keep is None:
        shutil.rmtree(root, ignore_errors=True)
    failed = any(r["failures"] or r["errors"] for r in results.values())
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
