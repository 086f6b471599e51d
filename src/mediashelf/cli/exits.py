"""Exit codes of the CLI (DESIGN §9), mapped once from the error tree.

0 ok, 1 the job or probe failed (or could not be carried out: library or database
unavailable, another job in the way), 2 bad usage or an invalid request (cancel a finished
job, say), 3 not found, 130 interrupted (Ctrl-C) before a job command knew how its job ended.
"""

from __future__ import annotations

from mediashelf.errors import (
    ConfigError,
    InvalidInput,
    InvalidJobRequest,
    MediashelfError,
    NotFound,
    StateRefused,
)

OK = 0
FAILED = 1
USAGE = 2
NOT_FOUND = 3
INTERRUPTED = 130  # Ctrl-C (128 + SIGINT), as shells report it


def exit_code_for(exc: MediashelfError) -> int:
    """Return the process exit code for a mediashelf error."""
    if isinstance(exc, InvalidInput | ConfigError | InvalidJobRequest | StateRefused):
        return USAGE
    if isinstance(exc, NotFound):
        return NOT_FOUND
    return FAILED
