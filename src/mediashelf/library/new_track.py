"""A track a scan is about to insert: plain attributes, not an ORM object.

A first scan builds one record per file, applies its probe outcome with the update rules
(library/update.py) and inserts the batch as plain rows (TrackStore.insert). Built as mapped
`Track` objects, each attribute set went through the ORM's instrumentation: ~0.3 ms a file,
about a third of a first scan's job (measured), for objects that never entered a session.
The fields are the insertable columns of `tracks`, with their defaults (a test holds them
equal), so `vars(record)` is the row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from mediashelf.library.discovery import DiscoveredFile


@dataclass(eq=False)
class NewTrack:
    """The columns of one `tracks` row (its id is the database's to give)."""

    video_id: str
    relpath: str
    title: str
    filetype: str
    added_at: datetime
    updated_at: datetime
    size_bytes: int | None = None
    duration: float | None = None
    fingerprint_size: int | None = None
    fingerprint_mtime_ns: int | None = None
    container: str | None = None
    bitrate: int | None = None
    width: int | None = None
    height: int | None = None
    resolution: str | None = None
    video_codec: str | None = None
    video_fps: float | None = None
    video_bitrate: int | None = None
    audio_codec: str | None = None
    audio_bitrate: int | None = None
    audio_channels: int | None = None
    audio_channel_layout: str | None = None
    audio_sample_rate: int | None = None
    audio_bit_depth: int | None = None
    probe_status: str = "pending"
    probe_error_class: str | None = None
    probe_error: str | None = None
    prober: str | None = None
    probe_version: int | None = None
    probe_ms: float | None = None
    probed_at: datetime | None = None
    probe_failures: int = 0
    failing_since: datetime | None = None
    missing_since: datetime | None = None
    verified_at: datetime | None = None
    decode_errors: int | None = None
    decode_error: str | None = None
    decode_error_at_s: float | None = None

    @classmethod
    def for_file(cls, file: DiscoveredFile, now: datetime) -> NewTrack:
        """Return the pending track of a newly found file."""
        return cls(file.video_id, file.relpath, file.title, file.filetype, now, now,
                   size_bytes=file.size)  # fmt: skip
