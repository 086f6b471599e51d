"""The job state machine: statuses and the named transitions between them (docs/jobs.md).

`JobStore` has one method per transition and is the only code that writes a job's status;
`TRANSITIONS` lists them as data so the documentation and the conformance tests can be
checked against the store instead of against prose.
"""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    """Where a job is in its life."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE = (JobStatus.PENDING, JobStatus.RUNNING)
FINISHED = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)

# transition name -> (statuses it starts from, statuses it may end in). `None` is "no row yet".
TRANSITIONS: dict[str, tuple[tuple[JobStatus | None, ...], tuple[JobStatus, ...]]] = {
    "enqueue": ((None,), (JobStatus.PENDING,)),
    "claim": ((JobStatus.PENDING,), (JobStatus.RUNNING,)),
    "heartbeat": ((JobStatus.RUNNING,), (JobStatus.RUNNING,)),
    "hold": ((JobStatus.RUNNING,), (JobStatus.RUNNING,)),
    "checkpoint": ((JobStatus.RUNNING,), (JobStatus.RUNNING,)),
    "complete": ((JobStatus.RUNNING,), (JobStatus.COMPLETED,)),
    "fail_attempt": ((JobStatus.RUNNING,), (JobStatus.PENDING, JobStatus.FAILED)),
    "requeue": ((JobStatus.RUNNING,), (JobStatus.PENDING,)),
    "await_children": ((JobStatus.RUNNING,), (JobStatus.PENDING,)),
    "rescue": ((JobStatus.RUNNING,), (JobStatus.PENDING, JobStatus.FAILED, JobStatus.CANCELLED)),
    "request_cancel": (
        (JobStatus.PENDING, JobStatus.RUNNING),
        (JobStatus.CANCELLED, JobStatus.RUNNING, JobStatus.PENDING),
    ),
    "mark_cancelled": ((JobStatus.RUNNING,), (JobStatus.CANCELLED,)),
    "retry": ((JobStatus.FAILED, JobStatus.CANCELLED), (JobStatus.PENDING,)),
}


# Checkpoint key of a parent that handed its slot back to wait for its children. Its next runs
# are look-ins (a query or two), which a worker runs even with every slot busy.
AWAITING = "awaiting_children"
