"""How soon `mediashelf` answers: `--help`, and `mediashelf scan`'s first progress on a terminal.

Each run execs the installed `mediashelf` console script on a pseudo-terminal (as a user's
shell would) with a fresh SQLite database, and records when its first byte reaches the
terminal, when the bar first shows one of the job's own phases (the job exists then), and
when the command ends. The library is a demo library of `--files` clips (generated once).
Medians of `--repeat` runs, after one warm-up run (warm page cache).

    python bench/startup.py          # --files 232 --repeat 10
"""

from __future__ import annotations

import argparse
import os
import pty
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from mediashelf.demo_library import write_demo_library

SCRIPT = Path(sys.executable).with_name("mediashelf")
JOB_PHASE = re.compile(rb"(pending|running|discover|apply|diff|probe|done)")


def on_terminal(args: list[str], env: dict[str, str]) -> tuple[float, float | None, float]:
    """Run `mediashelf args` on a pty; return (first byte, first job phase, end) in seconds."""
    started = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:  # the child: the command itself, on the pty
        os.execve(SCRIPT, [str(SCRIPT), *args], env)
    first: float | None = None
    phase: float | None = None
    seen = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the command closed the terminal
            break
        if not chunk:
            break
        now = time.perf_counter() - started
        first = now if first is None else first
        seen += chunk
        if phase is None and JOB_PHASE.search(seen):
            phase = now
    os.waitpid(pid, 0)
    os.close(fd)
    return first or 0.0, phase, time.perf_counter() - started


def main() -> None:
    """Time `--help` and `scan` and print a Markdown table of medians."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=232)
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="startup-"))
    try:
        library = work / "library"
        write_demo_library(library, args.files)
        base = {k: v for k, v in os.environ.items() if not k.startswith("MEDIASHELF_")}
        base |= {"MEDIASHELF_LIBRARY": str(library), "COLUMNS": "100", "TERM": "xterm"}
        commands = {"--help": ["--help"], "scan": ["scan"]}
        rows: dict[str, list[tuple[float, float | None, float]]] = {n: [] for n in commands}
        for n in range(args.repeat + 1):
            env = {**base, "MEDIASHELF_DATA_DIR": str(work / f"data{n}")}
            for name, argv in commands.items():
                timing = on_terminal(argv, env)
                if n:  # the first round warms the page cache
                    rows[name].append(timing)
            shutil.rmtree(work / f"data{n}", ignore_errors=True)
        print(f"cores: {os.cpu_count()}, library: {args.files} demo clips, "
              f"{args.repeat} runs each (medians), load average {os.getloadavg()}")  # fmt: skip
        print("| command | first output s | job's first phase s | end s |")
        print("|---|---:|---:|---:|")
        for name, timings in rows.items():
            phases = [p for _, p, _ in timings if p is not None and name == "scan"]
            shown = f"{statistics.median(phases):.3f}" if phases else "-"
            print(f"| `mediashelf {name}` | {statistics.median(t[0] for t in timings):.3f} | "
                  f"{shown} | {statistics.median(t[2] for t in timings):.3f} |")  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
