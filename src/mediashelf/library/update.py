"""The update rules (§3): what a probe outcome changes on a track, as pure functions.

Per-track rescans and library scans both call these, so the two can never disagree about
which values a probe may overwrite.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mediashelf.db.schema import Track
from mediashelf.errors import ProbeError
from mediashelf.library.new_track import NewTrack
from mediashelf.probe.normalize import NORMALIZER_VERSION
from mediashelf.probe.result import AUDIO_FIELDS, MEDIA_FIELDS, VIDEO_FIELDS, ProbeResult

Changes = dict[str, tuple[Any, Any]]
# A stored track, or one a scan is about to insert: the rules read and set the same columns.
TrackRecord = Track | NewTrack
# Probe facts a changed file that no longer reads loses; size_bytes is the file's own fact.
CLEARED_ON_FAILURE = tuple(name for name in MEDIA_FIELDS if name != "size_bytes")


@dataclass(frozen=True)
class Fingerprint:
    """Size and mtime of a file when it was probed: the change detector."""

    size: int
    mtime_ns: int


def media_values(track: TrackRecord) -> dict[str, Any]:
    """Return the track's media columns."""
    return {name: getattr(track, name) for name in MEDIA_FIELDS}


def plan_changes(
    current: Mapping[str, Any],
    result: ProbeResult,
    *,
    refresh_duration: bool,
    refresh_size: bool,
    authoritative: bool = False,
) -> Changes:
    """Return {field: (old, new)} for every media field the probe result may change.

    The result is authoritative about which streams exist (a missing stream clears its
    fields); an unknown value inside a stream that exists keeps the old one, unless the
    whole result is `authoritative`: the file's bytes changed, or the old facts came from an
    older normaliser, so they cannot be trusted over the new result's "unknown". Duration
    and size are only overwritten when asked to or when they are empty.
    """
    new = result.media_fields()
    changes: Changes = {}
    for name in MEDIA_FIELDS:
        old, value = current.get(name), new[name]
        protected = old is not None and _protected(name, refresh_duration, refresh_size)
        if _stream_absent(name, result):
            value = None
        elif protected or (value is None and not authoritative):
            continue
        if old != value:
            changes[name] = (old, value)
    return changes


def _stream_absent(name: str, result: ProbeResult) -> bool:
    return (name in VIDEO_FIELDS and not result.has_video) or (
        name in AUDIO_FIELDS and not result.has_audio
    )


def _protected(name: str, refresh_duration: bool, refresh_size: bool) -> bool:
    return (name == "duration" and not refresh_duration) or (
        name == "size_bytes" and not refresh_size
    )


def apply_success(
    track: TrackRecord,
    result: ProbeResult,
    changes: Changes,
    fingerprint: Fingerprint | None,
    now: datetime,
) -> None:
    """Write `changes` and a successful probe record onto `track`."""
    for name, (_old, value) in changes.items():
        setattr(track, name, value)
    _set_fingerprint(track, fingerprint)
    track.probe_status = "ok"
    track.probe_error_class = None
    track.probe_error = None
    track.prober = result.prober
    track.probe_ms = result.probe_ms
    track.probed_at = now
    track.probe_failures = 0
    track.probe_version = NORMALIZER_VERSION
    track.failing_since = None
    track.missing_since = None
    track.updated_at = now


def fingerprint_changed(track: TrackRecord, fingerprint: Fingerprint | None) -> bool:
    """Tell whether the file changed since the track was last probed (unknown counts as no)."""
    if fingerprint is None or track.fingerprint_size is None:
        return False
    return (track.fingerprint_size, track.fingerprint_mtime_ns) != (
        fingerprint.size,
        fingerprint.mtime_ns,
    )


def facts_are_stale(track: TrackRecord, fingerprint: Fingerprint | None) -> bool:
    """Tell whether the track's stored facts no longer deserve to survive an "unknown".

    True when its file changed since the last probe or an older normaliser described it.
    """
    return fingerprint_changed(track, fingerprint) or (
        track.probed_at is not None and (track.probe_version or 0) < NORMALIZER_VERSION
    )


def apply_failure(
    track: TrackRecord, error: ProbeError, fingerprint: Fingerprint | None, now: datetime
) -> Changes:
    """Record a failed probe on `track`; return the media fields it changed as {field: (old, new)}.

    A file that changed since its last probe and no longer reads has no facts any more: its
    media fields are cleared (no stale facts), but for its size, the file's own fact, which
    is the new one (a download cut short showed the whole file's size). An unchanged file
    that fails (a transient problem, a timeout) keeps them.
    """
    changes: Changes = {}
    if fingerprint is not None and fingerprint_changed(track, fingerprint):
        changes = {
            name: (old, None)
            for name in MEDIA_FIELDS
            if name in CLEARED_ON_FAILURE and (old := getattr(track, name)) is not None
        }
        if track.size_bytes != fingerprint.size:
            changes["size_bytes"] = (track.size_bytes, fingerprint.size)
        for name, (_old, value) in changes.items():
            setattr(track, name, value)
    _set_fingerprint(track, fingerprint)
    track.probe_status = "error"
    track.probe_error_class = error.error_class
    track.probe_error = error.message
    if error.prober:  # the backends whose verdict this is (not known for a timeout)
        track.prober = error.prober
    track.probed_at = now
    track.probe_failures = (track.probe_failures or 0) + 1
    track.probe_version = NORMALIZER_VERSION
    if track.failing_since is None:
        track.failing_since = now
    track.updated_at = now
    return changes


def _set_fingerprint(track: TrackRecord, fingerprint: Fingerprint | None) -> None:
    if fingerprint is not None:
        track.fingerprint_size = fingerprint.size
        track.fingerprint_mtime_ns = fingerprint.mtime_ns


def json_changes(changes: Changes) -> dict[str, list[Any]]:
    """Return `changes` in their JSON form {field: [old, new]}."""
    return {name: [old, new] for name, (old, new) in changes.items()}
