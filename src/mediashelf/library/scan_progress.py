"""A library scan's counters, its progress line (§5 format) and its summary."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any

SAMPLES_PER_CLASS = 5
# The progress line's fields, exactly DESIGN §5's (parsers match them in this order);
# `reprobed` is in `jobs.progress` and the summary, not in the line.
COUNTER_ORDER = (
    "processed", "total", "added", "updated", "unchanged", "moved", "missing", "failed", "skipped",
)  # fmt: skip


@dataclass
class ScanCounters:
    """Counters of §5; every walked file lands in exactly one of added … skipped."""

    phase: str = "discover"
    total: int = 0
    processed: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    moved: int = 0
    missing: int = 0
    failed: int = 0
    skipped: int = 0
    reprobed: int = 0  # unchanged files probed again because an older prober described them
    rate: float = 0.0  # files checked per second in the current phase
    eta_s: int | None = None
    note: str | None = None  # what the scan is waiting for, when it waits

    def as_dict(self) -> dict[str, Any]:
        """Return the counters for `jobs.progress` and checkpoints."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScanCounters:
        """Rebuild counters saved by `as_dict`."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def copy(self) -> ScanCounters:
        """Return an independent copy (a batch writes to a copy until it commits)."""
        return ScanCounters.from_dict(self.as_dict())

    def line(self, now: datetime, job_id: int) -> str:
        """Return the stable progress line: `<ts> job=N phase=P processed=… eta_s=…`.

        Every value is a number, so `int()`/`float()` parse every line: an ETA not known yet
        (walking, or nothing checked so far) is written 0 here and is null in `jobs.progress`.
        """
        stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        counts = " ".join(f"{name}={getattr(self, name)}" for name in COUNTER_ORDER)
        eta = self.eta_s or 0
        return f"{stamp} job={job_id} phase={self.phase} {counts} rate={self.rate:.1f} eta_s={eta}"

    def summary(self, elapsed_s: float, dry_run: bool) -> str:
        """Return the completion message shown in tables and toasts."""
        head = "Library scan (dry run) completed" if dry_run else "Library scan completed"
        text = (
            f"{head} in {elapsed_s:.1f}s: {self.processed} processed, {self.added} added, "
            f"{self.updated} updated, {self.unchanged} unchanged, {self.moved} moved, "
            f"{self.missing} missing, {self.failed} failed"
        )
        text += f", {self.skipped} skipped" if self.skipped else ""
        return text + (f", {self.reprobed} re-probed" if self.reprobed else "")

    def cancelled(self) -> str:
        """Return the summary of a scan cancelled with these counters (its work is kept)."""
        return (
            f"Library scan cancelled after {self.processed} of {self.total} files: "
            f"{self.added} added, {self.updated} updated, {self.missing} missing, "
            f"{self.failed} failed (kept)"
        )

    def pace(self, checked: int, elapsed_s: float, eta: bool) -> None:
        """Set the rate from `checked` files in `elapsed_s`, and the ETA when `eta` is asked."""
        self.rate = round(checked / elapsed_s, 1) if elapsed_s > 0 else 0.0
        left = max(0, self.total - self.processed)
        self.eta_s = int(left / self.rate) if eta and self.rate > 0 else None


@dataclass
class ErrorSummary:
    """Failures grouped by error class, with a few sample relpaths each."""

    classes: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, error_class: str, relpath: str) -> None:
        """Count one failure."""
        entry = self.classes.setdefault(error_class, {"count": 0, "samples": []})
        entry["count"] += 1
        if len(entry["samples"]) < SAMPLES_PER_CLASS:
            entry["samples"].append(relpath)

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON form stored in `jobs.error_summary`."""
        return {
            name: {"count": entry["count"], "samples": list(entry["samples"])}
            for name, entry in sorted(self.classes.items())
        }

    def merge(self, other: dict[str, Any]) -> None:
        """Add another summary's counts (and samples, while there is room)."""
        for name, entry in other.items():
            mine = self.classes.setdefault(name, {"count": 0, "samples": []})
            mine["count"] += int(entry["count"])
            room = max(0, SAMPLES_PER_CLASS - len(mine["samples"]))
            mine["samples"].extend(entry["samples"][:room])

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ErrorSummary:
        """Rebuild a summary saved by `as_dict`."""
        return cls({name: {"count": int(e["count"]), "samples": list(e["samples"])}
                    for name, e in data.items()})  # fmt: skip

    def copy(self) -> ErrorSummary:
        """Return an independent copy."""
        return ErrorSummary.from_dict(self.as_dict())
