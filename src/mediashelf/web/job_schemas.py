"""Pydantic shapes of the job API, apart from the rest: `mediashelf scan --json` prints a job
and should not build every API model first (~0.08 s)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator


class JobOut(BaseModel):
    """A job as the API shows it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    status: str
    priority: int
    params: dict[str, Any]
    unique_key: str | None
    parent_id: int | None
    created_at: datetime
    run_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None
    attempt: int
    max_attempts: int
    worker_id: str | None
    cancel_requested_at: datetime | None
    trigger: str
    progress: dict[str, Any]
    summary: str | None
    result: dict[str, Any] | None
    error: str | None
    error_summary: dict[str, Any]
    errors: list[Any]
    logs_dropped: int  # oldest log lines dropped at the cap (docs/jobs.md)

    @field_validator("error_summary", mode="before")
    @classmethod
    def _no_failures(cls, value: object) -> object:
        """Show "no failures" as `{}` whatever the job stored: null and {} both meant it."""
        return {} if value is None else value

    @computed_field  # type: ignore[prop-decorator]
    @property
    def duration_s(self) -> float | None:
        """Seconds from the start (a retry starts again) to finish, or to the last heartbeat."""
        end = self.finished_at or self.heartbeat_at
        if self.started_at is None or end is None:
            return None
        return round((end - self.started_at).total_seconds(), 3)


class JobDetail(JobOut):
    """A job with its children counted by status."""

    children: dict[str, int] = Field(default_factory=dict)


class JobCreated(JobDetail):
    """The 201 answer to POST /api/jobs: the new job, and its id as `job_id` too.

    `job_id` is the name §7 gives it, and the one the 409 answer and `problems/retry` use, so
    a client reads the id of the job it queued or joined from the same key either way.
    """

    job_id: int


class JobList(BaseModel):
    """A page of jobs, newest first."""

    jobs: list[JobOut]
    total: int


class JobCreate(BaseModel):
    """Body of POST /api/jobs (strict, as its params are: `"priority": "1"` is refused)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    kind: str = Field(min_length=1, max_length=64)
    priority: int = Field(default=0, ge=-100, le=100)
    params: dict[str, Any] = Field(default_factory=dict)


class LogLineOut(BaseModel):
    """One log line."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    ts: datetime
    stream: str
    level: str
    message: str
    attempt: int


class LogTail(BaseModel):
    """An incremental slice of a job's log; pass `next_after` as `after` to continue."""

    lines: list[LogLineOut]
    next_after: int


class WorkerOut(BaseModel):
    """A live worker."""

    id: str
    host: str
    pid: int
    concurrency: int
    version: str
    started_at: datetime
    heartbeat_age_s: float


class JobStatsOut(BaseModel):
    """Counts for the status tiles."""

    by_status: dict[str, int]
    by_kind: dict[str, dict[str, int]]
    completed_today: int
    failed_today: int
    workers: list[WorkerOut]
