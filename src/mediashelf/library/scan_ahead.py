"""Probing ahead: the first files of a first scan are probed while `mediashelf scan` starts.

A library with no tracks yet has every file probed, in the walk's order. The process that
runs the scan spends its first half second importing the database layer and migrating while
the probe pool's processes, already started, sit idle; given the walk's first files here,
they probe them meanwhile, and the scan takes those results (for files whose size and mtime
have not changed since) instead of probing again.

Only where the scan runs in this process on files it is sure to probe: SQLite (PostgreSQL
fans a scan out to every worker), no dry, paced or throttled runs, and either a library
without tracks or a forced scan.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from mediashelf.db.peek import sqlite_has_tracks
from mediashelf.library.discovery import Skip, walk
from mediashelf.probe.formats import media_extensions

if TYPE_CHECKING:
    from mediashelf.config import Settings
    from mediashelf.probe.pool import ProbePool

AHEAD_PER_PROCESS = 250  # ~0.5 s of probing for each pool process, more than a start-up needs


def probe_ahead(pool: ProbePool, settings: Settings, params: Mapping[str, object]) -> bool:
    """Start probing the first files the scan asked for by `params` will probe; tell if so."""
    root = settings.library
    if root is None or not _probes_everything(settings, params):
        return False
    scope = params.get("path")
    files = walk(root, scope if isinstance(scope, str) else None, on_skip=_ignore,
                 extensions=media_extensions(settings.extensions_extra,
                                             settings.extensions_exclude))  # fmt: skip
    pool.probe_ahead(((root / f.relpath, f.size, f.mtime_ns) for f in files),
                     AHEAD_PER_PROCESS * pool.processes)  # fmt: skip
    return True


def _probes_everything(settings: Settings, params: Mapping[str, object]) -> bool:
    if any(params.get(name) for name in ("dry_run", "throttle_ms", "max_probes_per_s")):
        return False
    has_tracks = sqlite_has_tracks(settings.effective_database_url)
    return has_tracks is False or (has_tracks is True and bool(params.get("force")))


def _ignore(_skip: Skip) -> None:
    """The scan itself reports what its walk skips."""
