"""The tables (§2 of the design), one declaration for SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python, whatever the dialect stores.

    SQLite keeps no zone, so values are written as naive UTC and read back as aware UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Normalise to UTC before storing."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return an aware UTC datetime."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of every mediashelf table."""

    type_annotation_map = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON,
    }


# The columns the track list sorts and filters by (library/store.py exports them as SORTABLE
# and FILTERABLE): each has the indexes that keep its pages cheap at a million tracks.
SORT_INDEXED = (
    "title", "relpath", "filetype", "duration", "size_bytes", "bitrate", "resolution",
    "width", "height", "video_codec", "video_fps", "audio_codec", "audio_channels",
    "audio_sample_rate", "audio_bit_depth", "probe_status", "probed_at", "added_at", "updated_at",
)  # fmt: skip
FILTER_INDEXED = ("filetype", "resolution", "video_codec", "audio_codec", "probe_status")


class Track(Base):
    """One media file ever seen in the library; scans never delete rows."""

    __tablename__ = "tracks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    video_id: Mapped[str] = mapped_column(String(64), unique=True)
    # Code-point order on every dialect: scans merge the sorted walk with this column.
    relpath: Mapped[str] = mapped_column(
        Text().with_variant(Text(collation="C"), "postgresql"), unique=True
    )
    title: Mapped[str] = mapped_column(Text)
    filetype: Mapped[str] = mapped_column(String(16))

    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    duration: Mapped[float | None] = mapped_column(Float)
    fingerprint_size: Mapped[int | None] = mapped_column(BigInteger)
    fingerprint_mtime_ns: Mapped[int | None] = mapped_column(BigInteger)

    # Probe-filled text is Text: a hostile file must never make an insert fail on length.
    container: Mapped[str | None] = mapped_column(Text)
    bitrate: Mapped[int | None] = mapped_column(BigInteger)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    resolution: Mapped[str | None] = mapped_column(String(32))
    video_codec: Mapped[str | None] = mapped_column(Text)
    video_fps: Mapped[float | None] = mapped_column(Float)
    video_bitrate: Mapped[int | None] = mapped_column(BigInteger)
    audio_codec: Mapped[str | None] = mapped_column(Text)
    audio_bitrate: Mapped[int | None] = mapped_column(BigInteger)
    audio_channels: Mapped[int | None] = mapped_column(Integer)
    audio_channel_layout: Mapped[str | None] = mapped_column(Text)
    audio_sample_rate: Mapped[int | None] = mapped_column(Integer)
    audio_bit_depth: Mapped[int | None] = mapped_column(Integer)

    probe_status: Mapped[str] = mapped_column(String(16), default="pending")
    probe_error_class: Mapped[str | None] = mapped_column(String(32))
    probe_error: Mapped[str | None] = mapped_column(Text)
    prober: Mapped[str | None] = mapped_column(Text)
    probe_version: Mapped[int | None] = mapped_column(Integer)
    probe_ms: Mapped[float | None] = mapped_column(Float)
    probed_at: Mapped[datetime | None]
    probe_failures: Mapped[int] = mapped_column(Integer, default=0)
    failing_since: Mapped[datetime | None]
    missing_since: Mapped[datetime | None]
    verified_at: Mapped[datetime | None]
    decode_errors: Mapped[int | None] = mapped_column(Integer)
    decode_error: Mapped[str | None] = mapped_column(Text)
    decode_error_at_s: Mapped[float | None] = mapped_column(Float)
    added_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    # The track list reads pages in (column, id) order, NULLs apart (library/listing): one
    # index per sortable column serves both directions, the first page and the last; the
    # filterable columns lead an index in the default (title) order. Search has indexes of
    # its own outside the models (migration 0004: FTS5 on SQLite, pg_trgm on PostgreSQL).
    __table_args__ = (
        Index("ix_tracks_fingerprint", "fingerprint_size", "fingerprint_mtime_ns"),
        *(Index(f"ix_tracks_sort_{name}", name, "id") for name in SORT_INDEXED),
        *(Index(f"ix_tracks_{name}_title", name, "title", "id") for name in FILTER_INDEXED),
    )


class AuditEvent(Base):
    """Something a person or a job did to the library, with what it changed."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ts: Mapped[datetime] = mapped_column(index=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    actor: Mapped[str] = mapped_column(String(64))
    video_id: Mapped[str | None] = mapped_column(String(64), index=True)
    job_id: Mapped[int | None] = mapped_column(Integer, index=True)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


# One active job per unique key: a partial index whose WHERE each dialect gets in use_dialect.
ACTIVE_JOBS = "status IN ('pending', 'running')"
ACTIVE_UNIQUE = Index("ux_jobs_active_unique_key", "unique_key", unique=True)


class Job(Base):
    """A unit of background work: the queue entry and the record people watch (§2, §6)."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    priority: Mapped[int] = mapped_column(Integer, default=0)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    unique_key: Mapped[str | None] = mapped_column(String(128))
    parent_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("jobs.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime]
    run_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    worker_id: Mapped[str | None] = mapped_column(String(128))
    cancel_requested_at: Mapped[datetime | None]
    trigger: Mapped[str] = mapped_column(String(16), default="api")
    progress: Mapped[dict[str, Any]] = mapped_column(default=dict)
    checkpoint: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    summary: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    error_summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    errors: Mapped[list[Any]] = mapped_column(JSON, default=list)
    logs_dropped: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    __table_args__ = (
        Index("ix_jobs_claim", "status", "priority", "run_at", "id"),
        Index("ix_jobs_kind_status", "kind", "status"),
        Index("ix_jobs_finished_at", "finished_at"),
        ACTIVE_UNIQUE,
    )


class JobLog(Base):
    """One log line of a job, in the `job` or `progress` stream."""

    __tablename__ = "job_logs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(Integer, ForeignKey("jobs.id", ondelete="CASCADE"))
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    ts: Mapped[datetime]
    stream: Mapped[str] = mapped_column(String(16), default="job")
    level: Mapped[str] = mapped_column(String(16), default="info")
    message: Mapped[str] = mapped_column(Text)

    __table_args__ = (Index("ix_job_logs_job_stream_id", "job_id", "stream", "id"),)


class Worker(Base):
    """A worker process and its liveness."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime]
    heartbeat_at: Mapped[datetime] = mapped_column(index=True)
    concurrency: Mapped[int] = mapped_column(Integer)
    version: Mapped[str] = mapped_column(String(32))


class ScheduleFire(Base):
    """One firing of a schedule slot; the primary key makes each slot fire once."""

    __tablename__ = "schedule_fires"

    schedule: Mapped[str] = mapped_column(String(64), primary_key=True)
    fire_at: Mapped[datetime] = mapped_column(primary_key=True)
    job_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime]


class WebSession(Base):
    """A logged-in browser session of the pages; deleting the row ends it everywhere."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of the secret
    token_tag: Mapped[str] = mapped_column(String(64))  # which API token it was opened with
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime] = mapped_column(index=True)


def use_dialect(name: str) -> None:
    """Give the models' partial index its WHERE clause in dialect `name`'s options.

    SQLAlchemy has no dialect-neutral partial index, and declaring one per dialect at import
    loads every dialect's module (PostgreSQL's: 0.06 s of each SQLite command's start). Each
    engine adds its own dialect's clause when it is made (`Database`), before anything
    creates or compares the schema; the clause is the same text in both.
    """
    if name in ("sqlite", "postgresql"):
        ACTIVE_UNIQUE.dialect_kwargs[f"{name}_where"] = text(ACTIVE_JOBS)
