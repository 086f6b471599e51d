"""Read-only half of a library scan: merge the sorted walk with the sorted tracks and judge.

Both streams come in relpath order, so the merge holds one page of rows and one batch of
files at a time: memory stays flat however large the library is.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from mediashelf.db.session import Database
from mediashelf.library.discovery import DiscoveredFile
from mediashelf.library.ids import bracket_id
from mediashelf.library.store import TrackRow, TrackStore

ROW_PAGE = 1000
QUARANTINE_CLASSES = ("timeout", "crashed")
QUARANTINE_AFTER = 2


class Verdict(Enum):
    """What a scan does with one merged item."""

    NEW = "new"
    CHANGED = "changed"
    UNCHANGED = "unchanged"
    SKIPPED = "skipped"  # quarantined: hung or crashed the prober twice, file unchanged
    MISSING = "missing"  # a track whose file is gone
    STILL_MISSING = "still_missing"  # gone already before this scan


@dataclass(frozen=True)
class Item:
    """A walked file, a track row, or both when they share a relpath."""

    file: DiscoveredFile | None
    row: TrackRow | None

    @property
    def relpath(self) -> str:
        """Return the relpath both sides share."""
        if self.file is not None:
            return self.file.relpath
        assert self.row is not None
        return self.row.relpath


def rows_in_order(db: Database, prefix: str, after: str | None) -> Iterator[TrackRow]:
    """Yield the tracks within `prefix` in relpath order, one short transaction per page."""
    while True:
        with db.unit_of_work() as session:
            page = TrackStore(session).rows_after(after, prefix, ROW_PAGE)
        yield from page
        if len(page) < ROW_PAGE:
            return
        after = page[-1].relpath


def merge(files: Iterable[DiscoveredFile], rows: Iterable[TrackRow]) -> Iterator[Item]:
    """Pair files and rows by relpath; either side may be absent."""
    walk, stream = iter(files), iter(rows)
    file, row = next(walk, None), next(stream, None)
    while file is not None or row is not None:
        if row is None or (file is not None and file.relpath < row.relpath):
            yield Item(file, None)
            file = next(walk, None)
        elif file is None or row.relpath < file.relpath:
            yield Item(None, row)
            row = next(stream, None)
        else:
            yield Item(file, row)
            file, row = next(walk, None), next(stream, None)


def judge(item: Item, force: bool) -> Verdict:
    """Return what the scan should do with `item`."""
    file, row = item.file, item.row
    if row is None:
        return Verdict.NEW
    if file is None:
        return Verdict.STILL_MISSING if row.missing_since is not None else Verdict.MISSING
    same = (row.fingerprint_size, row.fingerprint_mtime_ns) == (file.size, file.mtime_ns)
    if same and _quarantined(row):
        return Verdict.CHANGED if force else Verdict.SKIPPED
    if force or not same or row.probe_status in ("pending", "missing"):
        return Verdict.CHANGED
    if row.probe_status == "error" and row.probe_error_class in QUARANTINE_CLASSES:
        return Verdict.CHANGED  # one more try before quarantine
    return Verdict.UNCHANGED


def _quarantined(row: TrackRow) -> bool:
    return (
        row.probe_status == "error"
        and row.probe_error_class in QUARANTINE_CLASSES
        and row.probe_failures >= QUARANTINE_AFTER
    )


def find_moves(
    db: Database, root: Path, new_files: Sequence[DiscoveredFile], taken: set[int]
) -> dict[str, TrackRow]:
    """Match new files to tracks whose file is gone, by `[ID]` first, then by fingerprint.

    A match needs the old file to be absent on disk: a track whose file still exists is a
    duplicate, not a move. `taken` holds ids already matched in this scan and is updated.
    """
    if not new_files:
        return {}
    ids = [i for f in new_files if (i := bracket_id(f.relpath)) is not None]
    prints = [(f.size, f.mtime_ns) for f in new_files]
    with db.unit_of_work() as session:
        candidates = TrackStore(session).move_candidates(ids, prints)
    moves: dict[str, TrackRow] = {}
    for file in new_files:
        match = _match(file, candidates, taken, root)
        if match is not None:
            taken.add(match.id)
            moves[file.relpath] = match
    return moves


def _match(
    file: DiscoveredFile, candidates: Sequence[TrackRow], taken: set[int], root: Path
) -> TrackRow | None:
    wanted = bracket_id(file.relpath)
    by_id = [c for c in candidates if wanted is not None and c.video_id == wanted]
    by_print = [
        c for c in candidates
        if (c.fingerprint_size, c.fingerprint_mtime_ns) == (file.size, file.mtime_ns)
    ]  # fmt: skip
    for candidate in (*by_id, *by_print):
        if candidate.id not in taken and not os.path.lexists(root / candidate.relpath):
            return candidate
    return None
