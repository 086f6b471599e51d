"""An app over a scanned copy of the corpus, on each database dialect."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from mediashelf.db.schema import AuditEvent, Track
from mediashelf.db.session import Database
from mediashelf.probe.base import ProbeRunner
from mediashelf.probe.pool import ProbePool
from mediashelf.probe.result import ProbeResult
from mediashelf.runtime import Runtime
from mediashelf.web.app import create_app
from tests.conftest import make_runtime, scan


@dataclass
class App:
    """A running test app and handles on what is behind it."""

    client: TestClient
    runtime: Runtime
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

    def audit(self, action: str = "track.rescan") -> list[AuditEvent]:
        """Return the audit events of `action`, oldest first."""
        with self.db.unit_of_work() as session:
            query = select(AuditEvent).where(AuditEvent.action == action)
            return list(session.scalars(query.order_by(AuditEvent.id)))


@dataclass
class StaticRunner:
    """A probe runner that returns a fixed result (for update-rule tests)."""

    result: ProbeResult
    calls: list[Path] = field(default_factory=list)

    def probe(self, path: Path) -> ProbeResult:
        """Return the fixed result."""
        self.calls.append(path)
        return self.result


def index_library(database: Database, library: Path, pool: ProbePool) -> None:
    """Scan `library` into `database` once."""
    runtime = make_runtime(database, library, pool)
    assert scan(runtime).status == "completed"
    runtime.close()


BASE_URL = "http://localhost:8000"
# What the pages' own requests carry: the browser names the page's origin on every change.
SAME_ORIGIN = {"origin": BASE_URL}


def client_for(app: FastAPI, **headers: str) -> TestClient:
    """Return a test client that talks to `app` as the pages do (same-origin)."""
    return TestClient(app, base_url=BASE_URL, headers={**SAME_ORIGIN, **headers})


def make_app(
    database: Database,
    library: Path,
    pool: ProbePool,
    runner: ProbeRunner | None = None,
    **settings: object,
) -> App:
    """Build an app (no embedded workers) whose rescans probe with `runner` or `pool`."""
    runtime = make_runtime(database, library, pool, **settings)
    runtime.runner = runner
    return App(client_for(create_app(runtime)), runtime, database, library)


@pytest.fixture
def app(database: Database, library: Path, probe_pool: ProbePool) -> Iterator[App]:
    """An app over the scanned library copy, probing through the real pool."""
    index_library(database, library, probe_pool)
    built = make_app(database, library, probe_pool)
    with built.client:
        yield built
