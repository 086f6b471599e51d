"""A database that is really unreachable answers 503 (+ Retry-After); a full disk answers 507.

Faults are real: a SQLite file locked by another process, a PostgreSQL backend terminated
under a request, a server address where nothing listens, and SQLite's own "database or disk
is full" from a connection whose page budget is used up.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url

from mediashelf.config import Settings
from mediashelf.db.migrate import upgrade
from mediashelf.db.session import FILE_READ_ONLY, FILE_REPLACED, Database
from mediashelf.probe.pool import ProbePool
from mediashelf.probe.result import ProbeResult
from mediashelf.runtime import Runtime
from mediashelf.web.app import create_app
from tests.web.conftest import App, StaticRunner, client_for, index_library, make_app

SQLITE_ONLY = pytest.mark.parametrize("db_dialect", ["sqlite"], indirect=True)
POSTGRES_ONLY = pytest.mark.parametrize("db_dialect", ["postgresql"], indirect=True)
TOKEN = "outage-token-0123456789-abcdef"


def impatient(database: Database) -> Database:
    """Return a second handle on `database` that gives up on another process's lock after
    100 ms instead of 10 s (every new connection, switching to WAL included, waits that long).
    """
    return Database(database.url, busy_timeout_ms=100)


@contextmanager
def locked_by_another_process(database: Database) -> Iterator[None]:
    """Hold an exclusive lock on the SQLite file from a second process until the block ends."""
    path = make_url(database.url).database
    assert path is not None
    database.dispose()  # idle pooled connections would keep the other process from locking
    code = (
        "import sqlite3, sys\n"
        f"c = sqlite3.connect({path!r}, isolation_level=None, timeout=10)\n"
        "c.execute('PRAGMA locking_mode=EXCLUSIVE')\n"
        "c.execute('BEGIN EXCLUSIVE')\n"
        "c.execute('CREATE TABLE IF NOT EXISTS lock_holder (x)')\n"
        "print('locked', flush=True)\n"
        "sys.stdin.read()\n"
    )
    with subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True) as holder:  # fmt: skip
        assert holder.stdout is not None
        assert holder.stdin is not None
        try:
            assert holder.stdout.readline().strip() == "locked"
            yield
        finally:
            holder.stdin.close()
            holder.wait(timeout=30)


def assert_unavailable(response: Any, reason: str) -> None:
    """Assert a 503 in the error shape with Retry-After, naming the class of failure only."""
    assert response.status_code == 503, response.text
    assert int(response.headers["retry-after"]) > 0
    body = response.json()
    assert body["status"] == "error"
    assert body["component"] == "database"
    assert body["reason"] == reason
    assert reason in body["error"]


@SQLITE_ONLY
def test_sqlite_locked_by_another_process_is_503_then_recovers(
    database: Database, library: Path, probe_pool: ProbePool
) -> None:
    index_library(database, library, probe_pool)
    app = make_app(impatient(database), library, probe_pool)
    video_id = app.track("video/h264_aac.mp4").video_id
    with app.client:
        with locked_by_another_process(app.db):
            reason = "database locked by another process"
            assert_unavailable(app.client.get("/api/tracks"), reason)
            assert_unavailable(app.client.get("/api/jobs/1"), reason)
            assert_unavailable(app.client.post("/api/jobs", json={"kind": "library_scan"}), reason)
            assert_unavailable(app.client.post(f"/api/track/{video_id}/rescan_media"), reason)
            health = app.client.get("/healthz")
            assert_unavailable_health(health, reason)
            page = app.client.get("/tracks", headers={"accept": "text/html"})
            assert page.status_code == 503
            assert "try again" in page.text
            assert page.headers["retry-after"]
        assert app.client.get("/api/tracks").status_code == 200
        assert app.client.get("/healthz").status_code == 200


def assert_unavailable_health(response: Any, reason: str) -> None:
    """Assert /healthz's 503: the component and the class of failure, nothing more.

    Retry-After (§7) while the database is unreachable; none for a file someone must mend.
    """
    assert response.status_code == 503
    body = response.json()
    assert (body["status"], body["component"], body["reason"]) == ("error", "database", reason)
    waiting_mends_it = reason not in (FILE_REPLACED, FILE_READ_ONLY)
    assert ("retry-after" in response.headers) == waiting_mends_it, response.headers


@SQLITE_ONLY
def test_session_check_during_an_outage_is_503(
    database: Database, library: Path, probe_pool: ProbePool
) -> None:
    index_library(database, library, probe_pool)
    app = make_app(impatient(database), library, probe_pool, api_token=TOKEN)
    with app.client:
        login = app.client.post("/login", data={"token": TOKEN}, follow_redirects=False)
        assert login.status_code == 303
        with locked_by_another_process(app.db):
            response = app.client.get("/api/jobs")  # the session row cannot be read
            assert_unavailable(response, "database locked by another process")
            assert "frame-ancestors" in response.headers["content-security-policy"]
        assert app.client.get("/api/jobs").status_code == 200


@POSTGRES_ONLY
def test_postgres_backend_terminated_under_a_request_is_503(app: App) -> None:
    admin = create_engine(app.db.engine.url, isolation_level="AUTOCOMMIT")

    def terminate_own_backend(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"),
                         {"pid": dbapi_connection.info.backend_pid})  # fmt: skip

    event.listen(app.db.engine, "checkout", terminate_own_backend)
    try:
        assert_unavailable(app.client.get("/api/tracks"), "database unreachable")
        response = app.client.post("/api/jobs", json={"kind": "library_scan"})
        assert_unavailable(response, "database unreachable")
        assert_unavailable_health(app.client.get("/healthz"), "database unreachable")
    finally:
        event.remove(app.db.engine, "checkout", terminate_own_backend)
        admin.dispose()
    assert app.client.get("/api/tracks").status_code == 200  # the pool reconnects by itself


def closed_port() -> int:
    """Return a local TCP port where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_postgres_server_gone_is_503_without_its_address(tmp_path: Path) -> None:
    url = f"postgresql://mediashelf:hunter2-password@127.0.0.1:{closed_port()}/library_db"
    database = Database(url)
    runtime = Runtime(Settings(database_url=url, library=tmp_path), database)
    client = client_for(create_app(runtime))  # no lifespan: start-up would migrate
    try:
        assert_unavailable(client.get("/api/tracks"), "database unreachable")
        assert_unavailable(client.get("/api/jobs/stats"), "database unreachable")
        health = client.get("/healthz")
        assert_unavailable_health(health, "database unreachable")
        for response in (health, client.get("/api/jobs")):
            for secret in ("127.0.0.1", "hunter2", "mediashelf:", "library_db", "psycopg",
                           "Connection refused", str(make_url(url).port)):  # fmt: skip
                assert secret not in response.text
    finally:
        database.dispose()


def page_budget_used_up(database: Database) -> None:
    """Cap every new SQLite connection at the pages the file has now: growing it fails."""

    def cap(dbapi_connection: Any, _record: Any) -> None:
        pages = dbapi_connection.execute("PRAGMA page_count").fetchone()[0]
        dbapi_connection.execute(f"PRAGMA max_page_count={pages}")

    event.listen(database.engine, "connect", cap)
    database.dispose()
    setattr(database, "_cap", cap)  # noqa: B010 - kept to lift the cap later


def budget_restored(database: Database) -> None:
    """Lift the cap of page_budget_used_up."""
    event.remove(database.engine, "connect", database._cap)  # type: ignore[attr-defined]
    database.dispose()


BULKY = ProbeResult(container="x" * 300_000, duration=1.0, size_bytes=10, bitrate=1000,
                    has_video=False, has_audio=True, audio_codec="aac", audio_channels=2,
                    audio_sample_rate=48000, prober="static")  # fmt: skip


@SQLITE_ONLY
def test_disk_full_is_507_and_healthz_reports_it(
    database: Database, library: Path, probe_pool: ProbePool
) -> None:
    index_library(database, library, probe_pool)
    app = make_app(database, library, probe_pool, runner=StaticRunner(BULKY))
    with app.client:
        video_id = app.track("audio/plain.mp3").video_id
        before = app.row("audio/plain.mp3")
        assert app.client.get("/healthz").json()["disk"] == "ok"
        page_budget_used_up(database)
        full = app.client.post(f"/api/track/{video_id}/rescan_media")
        assert full.status_code == 507, full.text
        body = full.json()
        assert (body["status"], body["component"], body["reason"]) == (
            "error", "database", "disk full",
        )  # fmt: skip
        assert "free some space" in body["error"]
        assert app.row("audio/plain.mp3") == before  # nothing half-written
        health = app.client.get("/healthz")
        assert health.status_code == 503
        assert (health.json()["component"], health.json()["reason"]) == ("disk", "disk full")
        assert app.client.get("/api/tracks").status_code == 200  # reads still work
        budget_restored(database)
        assert app.client.post(f"/api/track/{video_id}/rescan_media").status_code == 200
        assert app.client.get("/healthz").status_code == 200


def test_a_damaged_sqlite_file_is_503_saying_to_restore(tmp_path: Path) -> None:
    """Pages of the file overwritten (a failing disk): the API answered a bare 500."""
    path = tmp_path / "damaged.db"
    url = f"sqlite:///{path}"
    seed = Database(url)
    upgrade(seed)
    with seed.engine.begin() as conn:
        conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    seed.dispose()
    with open(path, "r+b") as handle:  # every page after the schema's first
        size = handle.seek(0, 2)
        handle.seek(4096)
        handle.write(b"\xff" * (size - 4096))
    database = Database(url)
    client = client_for(create_app(Runtime(Settings(database_url=url, library=tmp_path), database)))
    try:
        response = client.get("/api/tracks?sort=title")
        assert response.status_code == 503, response.text
        body = response.json()
        assert body["reason"].startswith("the database file is damaged")
        assert "restore" in body["error"]
        assert str(tmp_path) not in response.text
    finally:
        database.dispose()


def test_a_sqlite_file_deleted_or_replaced_under_the_service_fails_healthz(
    tmp_path: Path,
) -> None:
    """/healthz said "ok" on the connections holding the deleted file while the API flipped
    between it and the empty one new connections created."""
    path = tmp_path / "live.db"
    url = f"sqlite:///{path}"
    database = Database(url)
    upgrade(database)
    client = client_for(create_app(Runtime(Settings(database_url=url, library=tmp_path), database)))
    try:
        assert client.get("/healthz").status_code == 200
        for suffix in ("", "-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
        assert_unavailable_health(client.get("/healthz"), FILE_REPLACED)
        replacement = Database(url)  # what a restore by hand, or a new empty file, puts there
        upgrade(replacement)
        replacement.dispose()
        assert_unavailable_health(client.get("/healthz"), FILE_REPLACED)
    finally:
        database.dispose()


def test_a_backup_of_an_older_schema_restored_under_a_web_only_service_fails_healthz(
    tmp_path: Path,
) -> None:
    """`serve --workers 0` heartbeats as no worker, so `db restore` saw nobody; afterwards
    every API call failed with 500 ("no such column") while /healthz said "ok"."""
    from typer.testing import CliRunner

    from mediashelf.cli.main import app
    from mediashelf.db.backup import backup_sqlite
    from mediashelf.db.migrate import downgrade, file_revisions

    path = tmp_path / "live.db"
    url = f"sqlite:///{path}"
    database = Database(url)
    upgrade(database)
    old = tmp_path / "old.db"
    backup_sqlite(path, old)
    with Database(f"sqlite:///{old}") as other:
        downgrade(other, file_revisions()[-2])  # one release back
    client = client_for(create_app(Runtime(Settings(database_url=url, library=tmp_path), database)))
    try:
        assert client.get("/healthz").status_code == 200
        env = {"MEDIASHELF_DATABASE_URL": url, "MEDIASHELF_LIBRARY": str(tmp_path)}
        restored = CliRunner().invoke(app, ["db", "restore", str(old)], env=env)
        assert restored.exit_code == 0, restored.output
        response = client.get("/healthz")
        assert response.status_code == 503
        body = response.json()
        assert (body["component"], body["reason"]) == ("database", "schema changed")
        older, newest = file_revisions()[-2:]
        assert f"at {older}, this service's at {newest}" in body["error"]
        assert "Restart the service" in body["error"]
    finally:
        database.dispose()
