"""The tables (§2 of the design), one declaration for SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Dialect, Float, Index, Integer, String, Text
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


class Track(Base):
    """One media file ever seen in the library; scans never delete rows."""

    __tablename__ = "tracks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    video_id: Mapped[str] = mapped_column(String(64), unique=True)
    relpath: Mapped[str] = mapped_column(Text, unique=True)
    title: Mapped[str] = mapped_column(Text)
    filetype: Mapped[str] = mapped_column(String(16), index=True)

    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    duration: Mapped[float | None] = mapped_column(Float)
    fingerprint_size: Mapped[int | None] = mapped_column(BigInteger)
    fingerprint_mtime_ns: Mapped[int | None] = mapped_column(BigInteger)

    container: Mapped[str | None] = mapped_column(String(64))
    bitrate: Mapped[int | None] = mapped_column(BigInteger)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    resolution: Mapped[str | None] = mapped_column(String(32), index=True)
    video_codec: Mapped[str | None] = mapped_column(String(32), index=True)
    video_fps: Mapped[float | None] = mapped_column(Float)
    video_bitrate: Mapped[int | None] = mapped_column(BigInteger)
    audio_codec: Mapped[str | None] = mapped_column(String(32), index=True)
    audio_bitrate: Mapped[int | None] = mapped_column(BigInteger)
    audio_channels: Mapped[int | None] = mapped_column(Integer)
    audio_channel_layout: Mapped[str | None] = mapped_column(String(64))
    audio_sample_rate: Mapped[int | None] = mapped_column(Integer)
    audio_bit_depth: Mapped[int | None] = mapped_column(Integer)

    probe_status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    probe_error_class: Mapped[str | None] = mapped_column(String(32))
    probe_error: Mapped[str | None] = mapped_column(Text)
    prober: Mapped[str | None] = mapped_column(String(128))
    probe_ms: Mapped[float | None] = mapped_column(Float)
    probed_at: Mapped[datetime | None]
    probe_failures: Mapped[int] = mapped_column(Integer, default=0)
    missing_since: Mapped[datetime | None]
    added_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (Index("ix_tracks_title", "title"),)


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
