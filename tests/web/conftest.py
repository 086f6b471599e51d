"""An app over an indexed copy of the corpus, on each database dialect."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from mediashelf.clock import SystemClock
from mediashelf.config import Settings
from mediashelf.db.schema import AuditEvent, Track
from mediashelf.db.session import Database
from mediashelf.library.sync import sync_library
from mediashelf.probe.base import ProbeRunner
from mediashelf.probe.pool import ProbePool
from mediashelf.probe.result import ProbeResult
from mediashelf.web.app import create_app
from mediashelf.web.context import AppContext


@dataclass
class App:
    """A running test app and handles on what is behind it."""

    client: TestClient
    ctx: AppContext
    db: Database
    library: Path

    def track(self, relpath: str) -> Track:
        """Return the track row for `relpath`."""
        with self.db.unit_of_work() as session:
            track = session.scalar(select(Track).where(Track.relpath == relpath))
            assert track is not None, relpath
            return track

    def row(self, relpath: str) -> dict[str, Any]:
        """Return every column of the track for `relpath` (to compare before/after)."""
        track = self.track(relpath)
        return {c.key: getattr(track, c.key) for c in Track.__table__.columns}

    def audit(self) -> list[AuditEvent]:
        """Return every audit event, oldest first."""
        with self.db.unit_of_work() as session:
            return list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)))


@dataclass
class StaticRunner:
    """A probe runner that returns a fixed result (for update-rule tests)."""

    result: ProbeResult
    calls: list[Path] = field(default_factory=list)

    def probe(self, path: Path) -> ProbeResult:
        """Return the fixed result."""
        self.calls.append(path)
        return self.result


def make_app(database: Database, library: Path, runner: ProbeRunner, tmp: Path) -> App:
    """Build an app whose context uses `runner` for probing."""
    settings = Settings(library=library, database_url=database.url, data_dir=tmp)
    ctx = AppContext(settings=settings, db=database, runner=runner)
    return App(TestClient(create_app(ctx)), ctx, database, library)


@pytest.fixture
def app(database: Database, library: Path, probe_pool: ProbePool, tmp_path: Path) -> Iterator[App]:
    """An app over the indexed library copy, probing through the real pool."""
    sync_library(database, library, probe_pool, SystemClock())
    built = make_app(database, library, probe_pool, tmp_path)
    with built.client:
        yield built
