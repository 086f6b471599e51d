"""The `library_verify` job: decode tracks fully in the isolated pool, batch by batch.

Same contract as a scan: progress and a progress line every 2 s, error summary, cancel
within a batch or a second, a checkpoint with each batch so a rescued job resumes, and
pacing by files/s and read MB/s that never delays a cancel.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.orm import Session

from mediashelf.errors import JobCancelled, ProbeError
from mediashelf.jobs.context import CancelRequested, JobContext
from mediashelf.jobs.pacing import LINE_AFTER_S, Pacer
from mediashelf.jobs.registry import JobOutcome
from mediashelf.library.discovery import scope_prefix
from mediashelf.library.kinds import LIBRARY_VERIFY
from mediashelf.library.scan_progress import ErrorSummary
from mediashelf.library.scan_request import normalize_scope
from mediashelf.library.verify.store import Candidate, VerifyScope, VerifyStore
from mediashelf.probe.pool import ProbePool

if TYPE_CHECKING:  # libav is imported where decoding runs: the pool's processes
    from mediashelf.probe.decode import DecodeReport

BASE_TIMEOUT_S = 30.0  # plus the file's duration: decoding must run at least at real time
BROKEN = ("corrupt", "crashed", "unsupported")  # decode failures that say the file is broken


class VerifyParams(BaseModel):
    """What to verify and how gently."""

    # Strict, as a scan's params: `"lossless_only": "yes"` and `"batch_size": true` were taken.
    model_config = ConfigDict(extra="forbid", strict=True)

    path: str | None = Field(default=None, max_length=1000)
    lossless_only: bool = False
    problems_only: bool = False
    not_verified_since_days: int | None = Field(default=None, ge=0, le=36_500)
    video_ids: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{6,64}$")]] | None = Field(
        default=None,
        min_length=1,
        max_length=1000,  # an empty list is not "every track"
    )
    max_files_per_s: float | None = Field(default=None, ge=0.01, le=1000, allow_inf_nan=False)
    max_read_mb_s: float | None = Field(default=None, ge=0.1, le=100_000, allow_inf_nan=False)
    batch_size: int = Field(default=50, ge=1, le=1000)

    @field_validator("path")
    @classmethod
    def _folder_inside(cls, value: str | None) -> str | None:
        return normalize_scope(value)


@dataclass
class VerifyCounters:
    """Progress of a verification; every track lands in exactly one of ok … failed."""

    phase: str = "verify"
    total: int = 0
    processed: int = 0
    ok: int = 0
    errors: int = 0  # decoded, with decode errors
    failed: int = 0  # could not be decoded at all (missing, timeout, crash…)
    seconds: float = 0.0  # media time decoded
    megabytes: float = 0.0
    rate: float = 0.0
    eta_s: int | None = None

    def line(self, stamp: str, job_id: int) -> str:
        """Return the progress line (`key=value` fields, numbers only, like a scan's)."""
        eta = self.eta_s or 0
        return (
            f"{stamp} job={job_id} phase={self.phase} processed={self.processed} "
            f"total={self.total} ok={self.ok} errors={self.errors} failed={self.failed} "
            f"rate={self.rate:.1f} eta_s={eta}"
        )


@dataclass(frozen=True)
class VerifyDeps:
    """What verification needs besides its job context."""

    root: Path
    pool: Callable[[], ProbePool]


@dataclass
class Verification:
    """One attempt of one verification job."""

    ctx: JobContext
    deps: VerifyDeps
    counters: VerifyCounters = field(default_factory=VerifyCounters)
    summary: ErrorSummary = field(default_factory=ErrorSummary)
    after: str | None = None
    _emitted: float = 0.0
    _start: float = field(default_factory=time.monotonic)
    _done_here: int = 0

    def __post_init__(self) -> None:
        assert isinstance(self.ctx.params, VerifyParams)
        self.params = self.ctx.params
        saved = self.ctx.checkpoint or {}
        self.counters = VerifyCounters(**saved.get("counters", {}))
        self.summary = ErrorSummary.from_dict(saved.get("errors", {}))
        self.after = saved.get("after")
        since = self.params.not_verified_since_days
        self.scope = VerifyScope(
            prefix=scope_prefix(self.params.path), lossless_only=self.params.lossless_only,
            problems_only=self.params.problems_only, video_ids=tuple(self.params.video_ids or ()),
            not_verified_since=None if since is None
            else self.ctx.clock.now() - timedelta(days=since),
        )  # fmt: skip

    def run(self) -> JobOutcome:
        """Verify every track in scope; return the summary."""
        if not self.ctx.checkpoint:
            self.counters.total = self.ctx.transaction(lambda s: VerifyStore(s).count(self.scope))
            self.ctx.log(f"verifying {self.counters.total} tracks")
        pacer = Pacer(self.ctx.sleep, self.params.max_files_per_s,
                      (self.params.max_read_mb_s or 0) * 1_000_000 or None, self._emit)  # fmt: skip
        while batch := self._next_batch():
            results = list(self._decode(batch, pacer))
            self._write(batch, results)
            self._emit()
            self.ctx.check()
        self.counters.phase, self.counters.eta_s = "done", 0
        self._emit(force=True)
        c = self.counters
        text = (
            f"Verification completed: {c.processed} files, {c.ok} ok, {c.errors} with decode "
            f"errors, {c.failed} could not be decoded"
        )
        errors = self.summary.as_dict()
        return JobOutcome(text, {**asdict(c)}, errors or None)

    def _next_batch(self) -> list[Candidate]:
        after, size = self.after, self.params.batch_size
        return self.ctx.transaction(lambda s: VerifyStore(s).after(self.scope, after, size))

    def _decode(
        self, batch: list[Candidate], pacer: Pacer
    ) -> Iterator[tuple[Candidate, DecodeReport | ProbeError]]:
        by_path = {self.deps.root / c.relpath: c for c in batch}

        def items() -> Iterator[tuple[Path, float]]:
            for path, candidate in by_path.items():
                pacer.next_item()
                pacer.used(candidate.size_bytes or 0)
                yield path, BASE_TIMEOUT_S + (candidate.duration or 0.0)

        def waiting() -> bool:
            """Polled while files decode: an hour-long file still gets a line every 2 s."""
            self._emit()
            return self.ctx.should_stop()

        pool = self.deps.pool()
        for path, outcome in pool.decode_many(items(), stop=waiting):
            yield by_path[path], outcome
        self.ctx.check()

    def _write(
        self, batch: list[Candidate], results: list[tuple[Candidate, DecodeReport | ProbeError]]
    ) -> None:
        now = self.ctx.clock.now()

        def work(session: Session) -> tuple[VerifyCounters, ErrorSummary]:
            counters = VerifyCounters(**asdict(self.counters))
            summary = self.summary.copy()
            store = VerifyStore(session)
            for candidate, outcome in results:
                _count(counters, summary, candidate, outcome)
                if isinstance(outcome, ProbeError):
                    if outcome.error_class in BROKEN:
                        store.record(candidate.id, now, 1, outcome.message, None)
                else:
                    store.record(candidate.id, now, outcome.errors, outcome.first_error,
                                 outcome.first_error_at_s)  # fmt: skip
            checkpoint = {"after": batch[-1].relpath, "counters": asdict(counters),
                          "errors": summary.as_dict()}  # fmt: skip
            self.ctx.commit_batch(session, asdict(counters), checkpoint, summary.as_dict())
            return counters, summary

        self.counters, self.summary = self.ctx.batch(work)
        self.after = batch[-1].relpath
        self._done_here += len(results)

    def _emit(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._emitted < LINE_AFTER_S:
            return
        self._emitted = now
        c = self.counters
        elapsed = now - self._start
        c.rate = round(self._done_here / elapsed, 1) if elapsed > 0 else 0.0
        c.eta_s = int((c.total - c.processed) / c.rate) if c.rate > 0 else None
        stamp = self.ctx.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
        line = c.line(stamp, self.ctx.job_id)
        self.ctx.report(asdict(c), line=line, error_summary=self.summary.as_dict())
        self.ctx.check()


def _count(
    counters: VerifyCounters,
    summary: ErrorSummary,
    candidate: Candidate,
    outcome: DecodeReport | ProbeError,
) -> None:
    counters.processed += 1
    if isinstance(outcome, ProbeError):
        counters.failed += 1
        summary.add(outcome.error_class, candidate.relpath)
        return
    counters.seconds += outcome.decoded_s
    counters.megabytes = round(counters.megabytes + outcome.size_bytes / 1_000_000, 3)
    if outcome.errors:
        counters.errors += 1
        summary.add("decode_errors", candidate.relpath)
    else:
        counters.ok += 1


def run_library_verify(ctx: JobContext, deps: VerifyDeps) -> JobOutcome:
    """Job handler of `library_verify`."""
    verification = Verification(ctx, deps)
    try:
        return verification.run()
    except CancelRequested as exc:
        c = verification.counters
        raise JobCancelled(
            f"Verification cancelled after {c.processed} of {c.total} files (results kept)"
        ) from exc


def verify_key(_params: BaseModel) -> str:
    """Return the unique key: one verification at a time."""
    return LIBRARY_VERIFY
