"""The MediashelfError tree: every failure the system reports on purpose.

Each class's docstring is its default message, so `raise TrackNotFound()` reads well in logs and
responses. Edges (HTTP, CLI, job runner) map these classes once; nothing below them formats errors.
"""

from __future__ import annotations

from typing import ClassVar


class MediashelfError(Exception):
    """Something went wrong in mediashelf."""

    def __init__(self, message: str | None = None) -> None:
        doc = (type(self).__doc__ or "").strip().splitlines()
        self.message = message or (doc[0] if doc else type(self).__name__)
        super().__init__(self.message)


class ConfigError(MediashelfError):
    """The configuration is invalid."""


class InvalidInput(MediashelfError):
    """The request is malformed."""


class InvalidListRequest(InvalidInput):
    """The track list cannot answer this request (a bad cursor, or a page too deep)."""


class NotFound(MediashelfError):
    """Not found."""


class TrackNotFound(NotFound):
    """track not found"""


class MediaFileNotFound(NotFound):
    """file not found"""


class PathOutsideLibrary(MediashelfError):
    """The path leaves the library root."""


class LibraryUnavailable(MediashelfError):
    """The library root is missing or unreadable."""


class DatabaseError(MediashelfError):
    """The database is unreachable or its schema is not current."""


class DatabaseUnavailable(DatabaseError):
    """The database is unavailable right now; try again shortly."""


class DatabaseFileProblem(DatabaseUnavailable):
    """The SQLite file under a running process was deleted, replaced or made read-only."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"The database is unavailable: {reason}.")
        self.reason = reason


class SchemaTooNew(DatabaseError):
    """The database's schema is a newer mediashelf's: this version would misread it."""


class DatabaseInUse(DatabaseError):
    """The database is in use by running workers; stop them first."""


class InvalidBackup(InvalidInput):
    """The backup cannot be restored."""


class StorageFull(MediashelfError):
    """The disk holding the database is full; free some space."""


class InvalidJobRequest(MediashelfError):
    """The job request is invalid (unknown kind or bad params)."""


class BackupNotFound(NotFound):
    """There is no backup file at the path given."""


class JobNotFound(NotFound):
    """job not found"""


class JobConflict(MediashelfError):
    """The job is not in a state that allows this."""


class StateRefused(JobConflict):
    """The action does not apply to the job or track as it stands (cancel a finished job).

    Still a conflict for HTTP (409), but for the CLI an invalid request (exit 2), not a job
    that failed: asking again changes nothing until the state does.
    """


class DuplicateJob(JobConflict):
    """An identical job is already pending or running."""

    def __init__(self, job_id: int, message: str | None = None) -> None:
        super().__init__(message or f"An identical job is already active (job {job_id}).")
        self.job_id = job_id


class ConflictingJob(JobConflict):
    """Another job of this kind with different parameters is already active."""

    def __init__(
        self, job_id: int, kind: str, params: dict[str, object], message: str | None = None
    ) -> None:
        shown = ", ".join(f"{k}={v!r}" for k, v in sorted(params.items())) or "defaults"
        super().__init__(
            message
            or f"Another {kind} is already active (job {job_id}, {shown}); wait for it to end "
            "or cancel it, then ask again."
        )
        self.job_id = job_id
        self.params = params


class JobBeingCancelled(ConflictingJob):
    """The active job of this kind is winding down after a cancel: joining it would only
    follow its cancellation, and cancelling it again is refused."""

    def __init__(self, job_id: int, kind: str, params: dict[str, object]) -> None:
        said = f"The active {kind} (job {job_id}) is being cancelled; ask again when it has ended."
        super().__init__(job_id, kind, params, said)


class JobLost(MediashelfError):
    """The job was taken away from this worker (its lease expired or it was rescued)."""


class JobCancelled(MediashelfError):
    """Cancelled; work already done is kept."""


class PermanentJobError(MediashelfError):
    """The job cannot succeed by retrying."""


class LibraryOffline(PermanentJobError):
    """library root looks offline"""


class LibraryNotFound(PermanentJobError):
    """The library root is missing or unreadable, and no track was ever found in it."""


class ProbeError(MediashelfError):
    """The file could not be probed."""

    error_class: ClassVar[str] = "corrupt"

    def __init__(self, message: str | None = None, *, settled: bool = False) -> None:
        super().__init__(message)
        # A verdict on bytes a backend did read (a still picture, no stream, random bytes
        # under an audio name, text): every backend reads the same bytes by the same rules,
        # so the probe chain asks no other (probe/chain.py).
        self.settled = settled
        # The backends that tried and failed ("pyav, ffprobe"), set by the probe chain: the
        # problems view names them beside the message. None where no backend finished.
        self.prober: str | None = None


class ProbeMissing(ProbeError):
    """The file does not exist."""

    error_class = "missing"


class ProbePermission(ProbeError):
    """The file cannot be read (permission denied)."""

    error_class = "permission"


class ProbeEmpty(ProbeError):
    """The file is empty."""

    error_class = "empty"


class ProbeTimeout(ProbeError):
    """Probing the file took too long and was stopped."""

    error_class = "timeout"


class ProbeCrashed(ProbeError):
    """The prober process crashed on this file."""

    error_class = "crashed"


class ProbeNoStreams(ProbeError):
    """The file contains no audio or video stream."""

    error_class = "no_streams"


class ProbeUnsupported(ProbeError):
    """The file format is not supported."""

    error_class = "unsupported"


class ProbeCorrupt(ProbeError):
    """The file is corrupt or not a media file."""

    error_class = "corrupt"


PROBE_ERRORS: dict[str, type[ProbeError]] = {
    cls.error_class: cls
    for cls in (
        ProbeMissing,
        ProbePermission,
        ProbeEmpty,
        ProbeTimeout,
        ProbeCrashed,
        ProbeNoStreams,
        ProbeUnsupported,
        ProbeCorrupt,
    )
}


def probe_error(error_class: str, message: str, prober: str | None = None) -> ProbeError:
    """Build the ProbeError subclass for `error_class` (unknown classes become `corrupt`)."""
    error = PROBE_ERRORS.get(error_class, ProbeCorrupt)(message)
    error.prober = prober
    return error
