"""Which problem class a track is in: one rule, used by the SQL listing and by the scan.

A track is in at most one class, checked in this order: missing; quarantined (it hung or
crashed the prober twice in a row and is skipped until it changes); the class of its last
failed probe; decode errors found by the last verification.
"""

from __future__ import annotations

QUARANTINE_CLASSES = ("timeout", "crashed")
# Failures of the file's access, not of its content: a chmod fixes them without changing
# the file's size or mtime, so every scan tries such a file again (opening it is cheap).
ACCESS_CLASSES = ("permission",)
QUARANTINE_AFTER = 2
PROBE_FAILURE_CLASSES = (
    "permission", "empty", "corrupt", "unsupported", "no_streams", "timeout", "crashed", "missing",
)  # fmt: skip
PROBLEM_CLASSES = (
    "missing", "quarantined", "permission", "empty", "corrupt", "unsupported", "no_streams",
    "timeout", "crashed", "decode_errors",
)  # fmt: skip


def problem_class(
    probe_status: str, error_class: str | None, failures: int, decode_errors: int | None
) -> str | None:
    """Return the problem class of a track, or None when it has no problem."""
    if probe_status == "missing":
        return "missing"
    if probe_status == "error":
        if error_class in QUARANTINE_CLASSES and failures >= QUARANTINE_AFTER:
            return "quarantined"
        return error_class or "corrupt"
    if decode_errors:
        return "decode_errors"
    return None
