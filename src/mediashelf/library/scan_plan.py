"""Read-only half of a library scan: merge the sorted walk with the sorted tracks and judge.

Both streams come in relpath order, so the merge holds one page of rows and one batch of
files at a time: memory stays flat however large the library is.
"""

from __future__ import annotations

import os
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from itertools import chain, islice
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy.orm import Session

from mediashelf.library.discovery import DiscoveredFile, Skip
from mediashelf.library.ids import bracket_id
from mediashelf.library.problems.classes import (
    ACCESS_CLASSES,
    QUARANTINE_CLASSES,
    problem_class,
)
from mediashelf.library.scan_progress import ErrorSummary, ScanCounters
from mediashelf.library.store import TrackRow, TrackStore
from mediashelf.probe.normalize import NORMALIZER_VERSION

ROW_PAGE = 5000
SAMPLE_LIMIT = 20
MISSING_CANDIDATES = 200

# Where a plain track row (TrackStore.rows_after) holds what the quick comparison reads.
_RELPATH, _SIZE, _MTIME, _STATUS, _VERSION = (
    TrackRow._fields.index(name)
    for name in ("relpath", "fingerprint_size", "fingerprint_mtime_ns", "probe_status",
                 "probe_version")
)  # fmt: skip

# Runs one unit of work (waiting out database outages): JobContext.transaction.
Transact = Callable[[Callable[[Session], Any]], Any]


class Verdict(StrEnum):
    """What a scan does with one merged item."""

    NEW = "new"
    CHANGED = "changed"
    UNCHANGED = "unchanged"
    REPROBE = "reprobe"  # unchanged, but probed by an older normaliser version
    SKIPPED = "skipped"  # quarantined: hung or crashed the prober twice, file unchanged
    MISSING = "missing"  # a track whose file is gone
    STILL_MISSING = "still_missing"  # gone already before this scan
    UNREACHABLE = "unreachable"  # not found, under a folder the walk could not read: kept


WRITES = frozenset({Verdict.NEW, Verdict.CHANGED, Verdict.REPROBE, Verdict.MISSING})
PROBED = frozenset({Verdict.NEW, Verdict.CHANGED, Verdict.REPROBE})  # verdicts that write a row


class Item(NamedTuple):
    """A walked file, a track row, or both when they share a relpath."""

    relpath: str
    file: DiscoveredFile | None
    row: TrackRow | None


def row_pages(transact: Transact, prefix: str, after: str | None) -> Iterator[list[Any]]:
    """Yield the tracks within `prefix` in relpath order as plain rows, a page per transaction."""
    while True:
        page: list[Any] = transact(partial(_page, prefix=prefix, after=after))
        if page:
            yield page
        if len(page) < ROW_PAGE:
            return
        after = page[-1][_RELPATH]


def rows_in_order(transact: Transact, prefix: str, after: str | None) -> Iterator[TrackRow]:
    """Yield the tracks within `prefix` in relpath order, one short transaction per page."""
    return map(TrackRow._make, chain.from_iterable(row_pages(transact, prefix, after)))


class Run(NamedTuple):
    """Consecutive files that match their tracks exactly: unchanged, with nothing to judge."""

    files: int
    last: str


def quick_runs(
    files: Iterable[DiscoveredFile], pages: Iterable[list[Any]]
) -> Iterator[Run | tuple[list[DiscoveredFile], list[TrackRow]]]:
    """Pair each page of tracks with the walked files up to its last path.

    A page its files match one for one is a Run; any other pair is handed back as
    (files, rows) to be merged and judged item by item. Files after the last page follow
    in pairs with no rows.
    """
    walk = iter(files)
    carry = next(walk, None)
    for page in pages:
        last = page[-1][_RELPATH]
        mine: list[DiscoveredFile] = []
        while carry is not None and carry.relpath <= last:
            mine.append(carry)
            carry = next(walk, None)
        if _all_unchanged(mine, page):
            yield Run(len(page), last)
        else:
            yield mine, list(map(TrackRow._make, page))
    while carry is not None:
        rest = [carry, *islice(walk, ROW_PAGE - 1)]
        carry = next(walk, None)
        yield rest, []


def _all_unchanged(files: list[DiscoveredFile], rows: list[Any]) -> bool:
    """Tell whether every file has its track, with the same fingerprint, probed and current."""
    return len(files) == len(rows) and all(
        f[0] == r[_RELPATH] and f[1] == r[_SIZE] and f[2] == r[_MTIME]
        and r[_STATUS] == "ok" and r[_VERSION] == NORMALIZER_VERSION
        for f, r in zip(files, rows, strict=True)
    )  # fmt: skip


def _page(session: Session, prefix: str, after: str | None) -> list[Any]:
    return TrackStore(session).rows_after(after, prefix, ROW_PAGE)


def merge(files: Iterable[DiscoveredFile], rows: Iterable[TrackRow]) -> Iterator[Item]:
    """Pair files and rows by relpath; either side may be absent."""
    walk, stream = iter(files), iter(rows)
    file, row = next(walk, None), next(stream, None)
    while file is not None or row is not None:
        if row is None or (file is not None and file.relpath < row.relpath):
            assert file is not None
            yield Item(file.relpath, file, None)
            file = next(walk, None)
        elif file is None or row.relpath < file.relpath:
            yield Item(row.relpath, None, row)
            row = next(stream, None)
        else:
            yield Item(file.relpath, file, row)
            file, row = next(walk, None), next(stream, None)


def judge(item: Item, force: bool, chosen: Callable[[TrackRow], bool] | None = None) -> Verdict:
    """Return what the scan should do with `item`.

    `chosen` picks tracks to probe again as if forced (a retry from the problems view).
    """
    file, row = item.file, item.row
    if row is None:
        return Verdict.NEW
    if file is None:
        return Verdict.STILL_MISSING if row.missing else Verdict.MISSING
    if (  # the common case first: an unchanged rescan of a large library is mostly this
        not force and chosen is None and row.probe_status == "ok"
        and row.fingerprint_size == file.size and row.fingerprint_mtime_ns == file.mtime_ns
        and row.probe_version == NORMALIZER_VERSION
    ):  # fmt: skip
        return Verdict.UNCHANGED
    force = force or (chosen is not None and chosen(row))
    same = (row.fingerprint_size, row.fingerprint_mtime_ns) == (file.size, file.mtime_ns)
    if same and _quarantined(row):
        return Verdict.CHANGED if force else Verdict.SKIPPED
    if force or not same or row.probe_status in ("pending", "missing"):
        return Verdict.CHANGED
    if row.probe_status == "error" and row.probe_error_class in QUARANTINE_CLASSES:
        return Verdict.CHANGED  # one more try before quarantine
    if row.probe_status == "error" and row.probe_error_class in ACCESS_CLASSES:
        return Verdict.CHANGED  # readable again after a chmod, which leaves the mtime alone
    if (row.probe_version or 0) < NORMALIZER_VERSION:
        return Verdict.REPROBE  # described by an older prober: the fixes since should reach it
    return Verdict.UNCHANGED


def _quarantined(row: TrackRow) -> bool:
    return row_problem(row) == "quarantined"


def row_problem(row: TrackRow) -> str | None:
    """Return the problem class of a track row (see library.problems.classes)."""
    return problem_class(row.probe_status, row.probe_error_class, row.probe_failures,
                         row.decode_errors)  # fmt: skip


def find_moves(
    transact: Transact, root: Path, new_files: Sequence[DiscoveredFile], taken: set[int]
) -> dict[str, TrackRow]:
    """Match new files to tracks whose file is gone, by `[ID]` first, then by fingerprint.

    A match needs the old file to be absent on disk: a track whose file still exists is a
    duplicate, not a move. `taken` holds ids already matched in this scan and is updated.
    """
    if not new_files:
        return {}
    ids = [i for f in new_files if (i := bracket_id(f.relpath)) is not None]
    prints = [(f.size, f.mtime_ns) for f in new_files]
    candidates = transact(lambda s: TrackStore(s).move_candidates(ids, prints))
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


@dataclass
class Chunk:
    """A range of the walk, (after, until], that one `library_scan_chunk` job applies."""

    after: str | None
    until: str | None  # None: to the end
    writes: int = 0
    files: int = 0


@dataclass
class DiffTally:
    """What the diff pass found: verdict counts, moves, walk skips and a few samples."""

    verdicts: dict[Verdict, int] = field(default_factory=lambda: dict.fromkeys(Verdict, 0))
    moved: int = 0
    moved_present: int = 0  # moves of tracks that were not missing before this scan
    total: int = 0
    walk_skips: int = 0
    errors: ErrorSummary = field(default_factory=ErrorSummary)
    samples: dict[str, list[str]] = field(
        default_factory=lambda: {"add": [], "update": [], "move": []}
    )
    missing_candidates: dict[int, str] = field(default_factory=dict)
    moved_ids: set[int] = field(default_factory=set)
    chunk_writes: int = 0  # cut the walk into ranges of about this many writes (0: never)
    chunks: list[Chunk] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # their paths, to place in chunks

    def skip(self, skip: Skip) -> None:
        """Count an entry the walk could not take."""
        self.total += 1
        self.walk_skips += 1
        self.errors.add(skip.reason, skip.relpath)
        if self.chunk_writes:
            self.skipped.append(skip.relpath)

    def place_skips(self) -> None:
        """Count each skip in the files of the chunk whose range holds it.

        A chunk's walk counts its skips as processed: left out of its files, a chunk's bar
        read 204/200. The walk reports skips ahead of the batches around them, so the chunk
        open at the time is not always theirs: they are placed by path once ranges are cut.
        """
        ends = [chunk.until or "" for chunk in self.chunks[:-1]]  # the last runs to the end
        for relpath in self.skipped:
            self.chunks[bisect_left(ends, relpath)].files += 1

    def add_batch(self, batch: list[tuple[Item, Verdict]], moves: dict[str, TrackRow]) -> None:
        """Count one batch of judged items and the moves found among them."""
        self._cut(batch)
        self.moved += len(moves)
        self.moved_present += sum(1 for row in moves.values() if not row.missing)
        self.moved_ids |= {row.id for row in moves.values()}
        for item, verdict in batch:
            self.verdicts[verdict] += 1
            self.total += item.file is not None
            if verdict is Verdict.NEW:
                self._sample("move" if item.relpath in moves else "add", item.relpath)
            elif verdict is Verdict.CHANGED:
                self._sample("update", item.relpath)
            elif verdict is Verdict.MISSING and item.row is not None:
                self._missing_candidate(item.row.id, item.relpath)

    def add_run(self, run: Run) -> None:
        """Count a run of unchanged files."""
        self.verdicts[Verdict.UNCHANGED] += run.files
        self.total += run.files
        if self.chunk_writes:
            self._open_chunk().files += run.files

    def _open_chunk(self) -> Chunk:
        if not self.chunks or self.chunks[-1].until is not None:
            after = self.chunks[-1].until if self.chunks else None
            self.chunks.append(Chunk(after, None))
        return self.chunks[-1]

    def _cut(self, batch: list[tuple[Item, Verdict]]) -> None:
        if not self.chunk_writes or not batch:
            return
        last = self._open_chunk()
        last.writes += sum(verdict in WRITES for _, verdict in batch)
        last.files += sum(item.file is not None for item, _ in batch)
        if last.writes >= self.chunk_writes:
            last.until = batch[-1][0].relpath

    def _missing_candidate(self, row_id: int, relpath: str) -> None:
        if len(self.missing_candidates) < MISSING_CANDIDATES:
            self.missing_candidates[row_id] = relpath

    def _sample(self, key: str, relpath: str) -> None:
        if len(self.samples[key]) < SAMPLE_LIMIT:
            self.samples[key].append(relpath)

    @property
    def newly_missing(self) -> int:
        """Return how many present tracks the scan would mark missing (moves excluded)."""
        return max(0, self.verdicts[Verdict.MISSING] - self.moved_present)

    def work(self) -> bool:
        """Tell whether the scan has anything to write."""
        v = self.verdicts
        return bool(v[Verdict.NEW] or v[Verdict.CHANGED] or v[Verdict.REPROBE]
                    or self.newly_missing)  # fmt: skip

    def would(self) -> dict[str, list[str]]:
        """Return sample relpaths per action; a moved file is listed once, as a move."""
        missing = [rel for i, rel in self.missing_candidates.items() if i not in self.moved_ids]
        return {**self.samples, "missing": missing[:SAMPLE_LIMIT]}

    def fill(self, c: ScanCounters) -> None:
        """Set the counters from the diff alone (dry runs, and scans with nothing to write)."""
        v = self.verdicts
        c.processed = self.total
        c.added, c.moved, c.missing = v[Verdict.NEW] - self.moved, self.moved, self.newly_missing
        c.updated, c.unchanged = v[Verdict.CHANGED], v[Verdict.UNCHANGED] + v[Verdict.REPROBE]
        c.skipped = v[Verdict.SKIPPED] + self.walk_skips
        c.reprobed = v[Verdict.REPROBE]  # would be: a dry run cannot tell what would change

    def describe(self) -> str:
        """Return the diff's log line."""
        v = self.verdicts
        return (
            f"diff: {self.total} files; {v[Verdict.NEW] - self.moved} new, "
            f"{v[Verdict.CHANGED]} changed, {v[Verdict.UNCHANGED]} unchanged, {self.moved} moved, "
            f"{self.newly_missing} missing, {v[Verdict.SKIPPED]} quarantined, "
            f"{self.walk_skips} skipped, {v[Verdict.REPROBE]} to re-probe (older prober)"
        )


def under_any(relpath: str, folders: list[str]) -> bool:
    """Tell whether `relpath` is one of `folders` or lies under one ("." is the root)."""
    return any(f in (".", relpath) or relpath.startswith(f + "/") for f in folders)
