"""Asking for a library scan: its parameters, their checks at enqueue time, enqueue-or-join.

Every caller (API, CLI, `serve` start-up, watch mode) goes through `request_scan`, so a bad
path is refused before a job exists, and an equivalent scan already active is joined while
a different one is refused by name (the scheduler reaches the same rule through the job
engine's `create_job`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.orm import Session

from mediashelf.clock import Clock
from mediashelf.errors import InvalidJobRequest, LibraryUnavailable
from mediashelf.jobs.registry import Registry
from mediashelf.jobs.service import JobRequest, request_job
from mediashelf.library.discovery import check_root, is_own_folder, scope_parts
from mediashelf.library.kinds import LIBRARY_SCAN
from mediashelf.library.problems.classes import PROBLEM_CLASSES

# Documented in docs/jobs.md; checked when a scan is enqueued (HTTP 422, CLI exit 2).
BATCH_SIZE = (1, 5000)
THROTTLE_MS = (0, 60_000)
PROBES_PER_S = (0.1, 10_000.0)


class ScanParams(BaseModel):
    """Parameters of a library scan, normalised so that equal requests compare equal."""

    # Strict: `"batch_size": true` was a scan of one-row batches and `"force": "yes"` a
    # forced one; a JSON body's types are taken as given, as in the other request bodies.
    model_config = ConfigDict(extra="forbid", strict=True)

    force: bool = False
    refresh_duration: bool = True
    refresh_size: bool = True
    path: str | None = Field(default=None, max_length=1000)
    dry_run: bool = False
    batch_size: int = Field(default=200, ge=BATCH_SIZE[0], le=BATCH_SIZE[1])
    throttle_ms: int = Field(default=0, ge=THROTTLE_MS[0], le=THROTTLE_MS[1])
    max_probes_per_s: float | None = Field(
        default=None, ge=PROBES_PER_S[0], le=PROBES_PER_S[1], allow_inf_nan=False
    )
    allow_mass_missing: bool = False
    # Deletions watch mode saw happen (file-system events): the brake allows that many more
    # tracks to go missing, since they were not lost to an unmounted root.
    missing_seen: int = Field(default=0, ge=0, le=100_000_000)
    # A retry from the problems view: probe these tracks again as if forced.
    reprobe_class: str | None = None
    reprobe_ids: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{6,64}$")]] | None = Field(
        default=None, max_length=1000
    )

    @field_validator("reprobe_class")
    @classmethod
    def _known_class(cls, value: str | None) -> str | None:
        if value is not None and value not in PROBLEM_CLASSES:
            raise ValueError(f"must be one of {', '.join(PROBLEM_CLASSES)}")
        return value

    @field_validator("path")
    @classmethod
    def _folder_inside(cls, value: str | None) -> str | None:
        return normalize_scope(value)


def normalize_scope(value: str | None) -> str | None:
    """Normalise a sub-folder scope to "a/b" (no dots, no end slashes); None is the root.

    Raises ValueError (a validation error of the request) for NUL characters, absolute
    paths and "..", so a request that would leave the library is refused before it is a job.
    A backslash is a name character (`scope_parts`): read as "/", a watch burst in `A\\B`
    scanned the folder `A/B`.
    """
    if value is None:
        return None
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    if value.startswith("/"):
        raise ValueError("must be a folder relative to the library root, not absolute")
    parts = scope_parts(value)
    if ".." in parts:
        raise ValueError("must be a folder inside the library ('..' is not allowed)")
    return "/".join(parts) or None


def check_scan_request(params: BaseModel, root: Path) -> None:
    """Refuse a scope that is not a folder of the library (checked while the root is online).

    Serves every kind whose params have a `path` scope. With the root offline the request is
    accepted: the job waits for the library.
    """
    path = getattr(params, "path", None)
    if path is None:
        return
    try:
        real_root = check_root(root)
    except LibraryUnavailable:
        return
    if not is_own_folder(real_root / path):
        raise InvalidJobRequest(f"invalid params: path: there is no folder {path!r} in the "
                                "library (a link to a folder is not one)")  # fmt: skip


def request_scan(
    session: Session,
    registry: Registry,
    clock: Clock,
    params: dict[str, object],
    *,
    trigger: str,
    actor: str,
) -> JobRequest:
    """Enqueue a library scan, or join the equivalent one already active.

    Raises InvalidJobRequest for bad params and ConflictingJob when a different scan is active.
    """
    return request_job(session, registry, clock, LIBRARY_SCAN, params, trigger=trigger, actor=actor)
