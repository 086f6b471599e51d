"""The `mediashelf` command's entry point: no garbage collection while a command imports.

A command's start imports typer, rich, pydantic, SQLAlchemy and the models: a few hundred
thousand objects allocated and almost none freed, so the collector's passes meanwhile find
nothing and cost ~0.15 s of a `mediashelf scan` that takes ~1 s on two cores (measured with
collection paused and not). The entry point pauses collection; `imports_done` freezes what
the start left (later passes skip it: it lives as long as the process) and resumes it, once
the runtime is built or before a command's long work. A command that never calls it (`db`,
`doctor`, `--help`) is short and ends with collection still paused. At the end, the probe
pool's forkserver is asked to exit at once (probe/pool.py: `release_forkserver`).
"""

from __future__ import annotations

import gc
import sys


class _Collection:
    paused_by_entry = False


def main() -> None:
    """Run the `mediashelf` command with collection paused until its imports are done."""
    gc.disable()
    _Collection.paused_by_entry = True
    from mediashelf.cli.main import app

    try:
        app()
    finally:
        _release_forkserver()


def _release_forkserver() -> None:
    """Let the probe pool's forkserver exit while this process does, not after it.

    Only here: the process ends with the command. A command that never started a pool never
    imported the pool's module, and pays nothing.
    """
    if "mediashelf.probe.pool" in sys.modules:
        from mediashelf.probe.pool import release_forkserver

        release_forkserver()


def imports_done() -> None:
    """Resume collection paused by `main` (nothing when the entry point did not pause it)."""
    if _Collection.paused_by_entry:
        _Collection.paused_by_entry = False
        gc.freeze()
        gc.enable()
