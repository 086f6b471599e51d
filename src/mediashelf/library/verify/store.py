"""All SQL of verification: which tracks to verify, in order, and what their decode found."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.orm import Session

from mediashelf.db.schema import Track

# Codecs whose every sample is meant to survive: "lossless only" verifies these.
LOSSLESS_CODECS = (
    "flac", "alac", "wavpack", "ape", "tta", "tak", "mlp", "truehd", "shorten", "wmalossless",
)  # fmt: skip


@dataclass(frozen=True)
class VerifyScope:
    """Which tracks a verification covers."""

    prefix: str = ""
    lossless_only: bool = False
    problems_only: bool = False  # only tracks whose last verification found errors
    not_verified_since: datetime | None = None
    video_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Candidate:
    """A track to decode: where it is and how long it plays."""

    id: int
    relpath: str
    duration: float | None
    size_bytes: int | None


class VerifyStore:
    """Reads candidates and records decode results in the caller's unit of work."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def _where(self, scope: VerifyScope) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = [Track.probe_status == "ok"]
        where.append(Track.missing_since.is_(None))
        if scope.prefix:
            where += [Track.relpath >= scope.prefix, Track.relpath < scope.prefix[:-1] + "0"]
        if scope.lossless_only:
            where.append(
                or_(
                    Track.audio_codec.in_(LOSSLESS_CODECS),
                    Track.audio_codec.like("pcm\\_%", escape="\\"),
                )
            )
        if scope.problems_only:
            where.append(Track.decode_errors > 0)
        if scope.not_verified_since is not None:
            where.append(
                or_(Track.verified_at.is_(None), Track.verified_at < scope.not_verified_since)
            )
        if scope.video_ids:
            where.append(Track.video_id.in_(scope.video_ids))
        return where

    def count(self, scope: VerifyScope) -> int:
        """Return how many tracks the scope covers."""
        return self.session.scalar(select(func.count()).where(*self._where(scope))) or 0

    def after(self, scope: VerifyScope, relpath: str | None, limit: int) -> list[Candidate]:
        """Return the next `limit` candidates in relpath order after `relpath`."""
        query = select(Track.id, Track.relpath, Track.duration, Track.size_bytes).where(
            *self._where(scope)
        )
        if relpath is not None:
            query = query.where(Track.relpath > relpath)
        rows = self.session.execute(query.order_by(Track.relpath).limit(limit))
        return [Candidate(*row) for row in rows]

    def record(
        self,
        track_id: int,
        now: datetime,
        errors: int,
        first_error: str | None,
        first_error_at_s: float | None,
    ) -> None:
        """Store one verification's outcome on its track."""
        self.session.execute(
            update(Track)
            .where(Track.id == track_id)
            .values(
                verified_at=now,
                decode_errors=errors,
                decode_error=first_error,
                decode_error_at_s=first_error_at_s,
                updated_at=now,
            )
        )
