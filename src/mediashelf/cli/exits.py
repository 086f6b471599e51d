"""Exit codes of the CLI, mapped once from the error tree."""

from __future__ import annotations

from mediashelf.errors import (
    ConfigError,
    DatabaseError,
    InvalidInput,
    InvalidJobRequest,
    LibraryUnavailable,
    MediashelfError,
    NotFound,
    ProbeError,
    ProbeTimeout,
)

OK = 0
FAILED = 1
USAGE = 2
NOT_FOUND = 3
PROBE_FAILED = 4
PROBE_TIMEOUT = 5
UNAVAILABLE = 6


def exit_code_for(exc: MediashelfError) -> int:
    """Return the process exit code for a mediashelf error."""
    if isinstance(exc, InvalidInput | ConfigError | InvalidJobRequest):
        return USAGE
    if isinstance(exc, NotFound):
        return NOT_FOUND
    if isinstance(exc, ProbeTimeout):
        return PROBE_TIMEOUT
    if isinstance(exc, ProbeError):
        return PROBE_FAILED
    if isinstance(exc, LibraryUnavailable | DatabaseError):
        return UNAVAILABLE
    return FAILED
