"""All SQL of the problems view: counts by class and a page of problem tracks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, case, func, select, update
from sqlalchemy.orm import Session

from mediashelf.db.schema import Track
from mediashelf.library.problems.classes import QUARANTINE_AFTER, QUARANTINE_CLASSES


def class_column() -> ColumnElement[str | None]:
    """Return the SQL twin of `classes.problem_class` (a test holds the two together)."""
    return case(
        (Track.probe_status == "missing", "missing"),
        (
            and_(
                Track.probe_status == "error",
                Track.probe_error_class.in_(QUARANTINE_CLASSES),
                Track.probe_failures >= QUARANTINE_AFTER,
            ),
            "quarantined",
        ),
        (Track.probe_status == "error", func.coalesce(Track.probe_error_class, "corrupt")),
        (Track.decode_errors > 0, "decode_errors"),
        else_=None,
    )


@dataclass(frozen=True)
class ProblemFilter:
    """Which problems to list: a class, a folder (relpath prefix), a page."""

    problem_class: str | None = None
    prefix: str = ""
    limit: int = 50
    offset: int = 0


class ProblemStore:
    """Reads problem tracks and releases quarantined ones, in the caller's unit of work."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def _where(self, flt: ProblemFilter) -> list[ColumnElement[bool]]:
        klass = class_column()
        where: list[ColumnElement[bool]] = [klass.is_not(None)]
        if flt.problem_class:
            where.append(klass == flt.problem_class)
        if flt.prefix:
            where += [Track.relpath >= flt.prefix, Track.relpath < flt.prefix[:-1] + "0"]
        return where

    def counts(self, prefix: str = "") -> dict[str, int]:
        """Return how many tracks each problem class holds (within `prefix`)."""
        klass = class_column().label("klass")
        rows = self.session.execute(
            select(klass, func.count())
            .where(*self._where(ProblemFilter(prefix=prefix)))
            .group_by(klass)
        )
        return {str(name): int(count) for name, count in rows}

    def page(self, flt: ProblemFilter) -> tuple[Sequence[tuple[Track, str]], int]:
        """Return one page of (track, class) in relpath order, and the total."""
        where = self._where(flt)
        total = self.session.scalar(select(func.count()).select_from(Track).where(*where)) or 0
        rows = self.session.execute(
            select(Track, class_column())
            .where(*where)
            .order_by(Track.relpath)
            .limit(flt.limit)
            .offset(flt.offset)
        )
        return [(track, str(klass)) for track, klass in rows], total

    def video_ids(self, flt: ProblemFilter, limit: int) -> list[str]:
        """Return up to `limit` video ids of matching problem tracks."""
        return list(
            self.session.scalars(
                select(Track.video_id).where(*self._where(flt)).order_by(Track.relpath).limit(limit)
            )
        )

    def release(self, track_id: int) -> None:
        """Lift a quarantine: the next scan probes the file again."""
        self.session.execute(update(Track).where(Track.id == track_id).values(probe_failures=0))
