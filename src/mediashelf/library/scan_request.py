"""Asking for a library scan: its parameters, their checks at enqueue time, enqueue-or-join.

Every caller (API, CLI, `serve` start-up, watch mode) goes through `request_scan`, so a bad
path is refused before a job exists, and an equivalent scan already active is joined while
a different one is refused by name (the scheduler reaches the same rule through the job
engine's `create_job`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.orm import Session

from mediashelf.clock import Clock
from mediashelf.errors import DuplicateJob, InvalidJobRequest, LibraryUnavailable
from mediashelf.jobs.registry import Registry
from mediashelf.jobs.service import create_job
from mediashelf.library.discovery import check_root

LIBRARY_SCAN = "library_scan"

# Documented in docs/jobs.md; checked when a scan is enqueued (HTTP 422, CLI exit 2).
BATCH_SIZE = (1, 5000)
THROTTLE_MS = (0, 60_000)
PROBES_PER_S = (0.1, 10_000.0)


class ScanParams(BaseModel):
    """Parameters of a library scan, normalised so that equal requests compare equal."""

    model_config = ConfigDict(extra="forbid")

    force: bool = False
    refresh_duration: bool = True
    refresh_size: bool = True
    path: str | None = Field(default=None, max_length=1000)
    dry_run: bool = False
    batch_size: int = Field(default=200, ge=BATCH_SIZE[0], le=BATCH_SIZE[1])
    throttle_ms: int = Field(default=0, ge=THROTTLE_MS[0], le=THROTTLE_MS[1])
    max_probes_per_s: float | None = Field(default=None, ge=PROBES_PER_S[0], le=PROBES_PER_S[1])
    allow_mass_missing: bool = False

    @field_validator("path")
    @classmethod
    def _folder_inside(cls, value: str | None) -> str | None:
        """Normalise the scope to "a/b" (no dots, no slashes at the ends); None is the root."""
        if value is None:
            return None
        if "\x00" in value:
            raise ValueError("must not contain NUL characters")
        if value.startswith(("/", "\\")):
            raise ValueError("must be a folder relative to the library root, not absolute")
        parts = [part for part in value.replace("\\", "/").split("/") if part not in ("", ".")]
        if ".." in parts:
            raise ValueError("must be a folder inside the library ('..' is not allowed)")
        return "/".join(parts) or None


def check_scan_request(params: BaseModel, root: Path) -> None:
    """Refuse a scope that is not a folder of the library (checked while the root is online).

    With the root offline the request is accepted: the job waits for the library.
    """
    assert isinstance(params, ScanParams)
    if params.path is None:
        return
    try:
        real_root = check_root(root)
    except LibraryUnavailable:
        return
    target = real_root / params.path
    try:
        inside = target.resolve(strict=True).is_relative_to(real_root) and target.is_dir()
    except (OSError, RuntimeError):
        inside = False
    if not inside:
        raise InvalidJobRequest(f"invalid params for {LIBRARY_SCAN}: path: there is no folder "
                                f"{params.path!r} in the library")  # fmt: skip


@dataclass(frozen=True)
class ScanRequest:
    """The scan that will answer a request, and whether it was already active."""

    job_id: int
    joined: bool


def request_scan(
    session: Session,
    registry: Registry,
    clock: Clock,
    params: dict[str, object],
    *,
    trigger: str,
    actor: str,
) -> ScanRequest:
    """Enqueue a library scan, or join the equivalent one already active.

    Raises InvalidJobRequest for bad params and ConflictingJob when a different scan is active.
    """
    try:
        job = create_job(
            session, registry, clock, kind=LIBRARY_SCAN, params=params, trigger=trigger,
            actor=actor,
        )  # fmt: skip
    except DuplicateJob as exc:
        return ScanRequest(exc.job_id, joined=True)
    return ScanRequest(job.id, joined=False)
