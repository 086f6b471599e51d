"""Shared fixtures: the generated corpus, databases on both dialects, the probe pool, the app."""

from __future__ import annotations

import logging
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url

from mediashelf.clock import SystemClock
from mediashelf.config import Settings
from mediashelf.db.engine import normalize_url
from mediashelf.db.migrate import upgrade
from mediashelf.db.schema import Job
from mediashelf.db.session import Database
from mediashelf.jobs.service import create_job, get_job
from mediashelf.probe.base import ffprobe_available
from mediashelf.probe.chain import build_chain
from mediashelf.probe.pool import ProbePool
from mediashelf.runtime import Runtime
from tests.media.generate import CorpusFile, generate_corpus

STRICT = os.environ.get("MEDIASHELF_TEST_STRICT") == "1"
PG_URL = os.environ.get("MEDIASHELF_TEST_DATABASE_URL")


def missing_environment(reason: str) -> NoReturn:
    """Skip for a missing tool or service; in strict mode (CI) fail instead."""
    if STRICT:
        pytest.fail(f"MEDIASHELF_TEST_STRICT=1 and {reason}")
    pytest.skip(reason)


@dataclass(frozen=True)
class Corpus:
    """The generated corpus and its manifest."""

    root: Path
    files: tuple[CorpusFile, ...]

    def of_kind(self, *kinds: str) -> list[CorpusFile]:
        """Return the manifest entries of the given kinds."""
        return [f for f in self.files if f.kind in kinds]


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    """Generate the test corpus once per run."""
    root = tmp_path_factory.mktemp("corpus")
    return Corpus(root, tuple(generate_corpus(root)))


@pytest.fixture(autouse=True)
def _root_logging_restored() -> Iterator[None]:
    """Undo a CLI command's `configure_logging` after each test.

    It points the root logger at the stderr of that moment, which pytest closes after the
    test; a thread of a later test logging through it would hit a closed file.
    """
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def library(corpus: Corpus, tmp_path: Path) -> Path:
    """Return a private copy of the corpus (without the huge sparse file) that a test may change."""
    root = tmp_path / "library"
    shutil.copytree(corpus.root, root, ignore=shutil.ignore_patterns("big"))
    return root


@pytest.fixture
def require_ffprobe() -> None:
    """Need the ffprobe binary."""
    if not ffprobe_available():
        missing_environment("ffprobe is not installed")


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """Create a PostgreSQL database of this run's own and drop it at the end.

    Its commits do not wait for the server's WAL flush (synchronous_commit off): what other
    sessions see, and when, is unchanged; only surviving a crash of the server's machine is
    given up, which no test relies on. Tests that commit line by line run about a third faster.
    """
    if not PG_URL:
        missing_environment("PostgreSQL is not configured (MEDIASHELF_TEST_DATABASE_URL)")
    server = make_url(normalize_url(PG_URL))
    name = f"mediashelf_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
        conn.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_dialect(request: pytest.FixtureRequest) -> str:
    """Run a test once per dialect; `db_url` and `database` share the choice."""
    dialect: str = request.param
    return dialect


@pytest.fixture
def db_url(db_dialect: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Return the URL of an empty database (no tables, no migrations applied)."""
    if db_dialect == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    url: str = request.getfixturevalue("pg_database")
    engine = create_engine(normalize_url(url))
    with engine.begin() as conn:
        _recreate_public_schema(conn)
    engine.dispose()
    return url


@pytest.fixture
def database(db_dialect: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """Return a migrated, empty database.

    Building the schema for every test cost up to ~1 s on PostgreSQL (two dozen indexes, the
    search objects), so each test process builds it once and later tests start from a copy
    (SQLite) or from emptied tables (PostgreSQL, after checking that no test changed the schema).
    """
    if db_dialect == "sqlite":
        path = tmp_path / "test.db"
        shutil.copyfile(_sqlite_template(request), path)
        url = f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("pg_database")
        _reset_postgresql(url)
    db = Database(url)
    upgrade(db)  # the quick revision check: a no-op unless the template is stale
    yield db
    db.dispose()


def _recreate_public_schema(conn: Connection) -> None:
    conn.execute(text("DROP SCHEMA public CASCADE"))
    conn.execute(text("CREATE SCHEMA public"))


_SQLITE_TEMPLATE: dict[str, Path] = {}


def _sqlite_template(request: pytest.FixtureRequest) -> Path:
    """Return this test process's migrated SQLite file, made on first use."""
    if "path" not in _SQLITE_TEMPLATE:
        factory: pytest.TempPathFactory = request.getfixturevalue("tmp_path_factory")
        path = factory.mktemp("template") / "migrated.db"
        db = Database(f"sqlite:///{path}")
        upgrade(db)
        db.dispose()  # the last connection closing checkpoints the WAL into the file
        _SQLITE_TEMPLATE["path"] = path
    return _SQLITE_TEMPLATE["path"]


# Everything a test could change about the schema: relations and their columns, functions,
# triggers, extensions and the stored revision. Equal fingerprints mean emptying the tables
# gives the same database as migrating from nothing.
_SCHEMA_FINGERPRINT = text("""
SELECT md5(concat_ws('|',
  (SELECT string_agg(concat_ws(':', c.relname, c.relkind::text, a.attname, a.atttypid::text),
                     ',' ORDER BY c.relname, a.attnum)
     FROM pg_class c LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0
    WHERE c.relnamespace = 'public'::regnamespace),
  (SELECT string_agg(proname, ',' ORDER BY proname) FROM pg_proc
    WHERE pronamespace = 'public'::regnamespace),
  (SELECT string_agg(tgname, ',' ORDER BY tgname) FROM pg_trigger t
     JOIN pg_class c ON c.oid = t.tgrelid WHERE c.relnamespace = 'public'::regnamespace),
  (SELECT string_agg(extname, ',' ORDER BY extname) FROM pg_extension),
  (SELECT string_agg(version_num, ',') FROM public.alembic_version)))
""")

_PG_MIGRATED: dict[str, str] = {}


def _reset_postgresql(url: str) -> None:
    """Empty every table of a migrated schema, or migrate from nothing if a test changed it."""
    engine = create_engine(normalize_url(url))
    try:
        with engine.begin() as conn:
            fingerprint = _fingerprint(conn)
            if fingerprint is not None and fingerprint == _PG_MIGRATED.get(url):
                tables = conn.execute(text(
                    "SELECT string_agg(quote_ident(tablename), ', ') FROM pg_tables"
                    " WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
                )).scalar_one()  # fmt: skip
                conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
                return
        with engine.begin() as conn:
            _recreate_public_schema(conn)
        db = Database(url)
        upgrade(db)
        db.dispose()
        with engine.begin() as conn:
            fingerprint = _fingerprint(conn)
        assert fingerprint is not None, "a migrated schema has an alembic_version table"
        _PG_MIGRATED[url] = fingerprint
    finally:
        engine.dispose()


def _fingerprint(conn: Connection) -> str | None:
    """Return the schema's fingerprint, or None when it is not migrated at all."""
    if conn.execute(text("SELECT to_regclass('public.alembic_version')")).scalar() is None:
        return None
    fingerprint: str = conn.execute(_SCHEMA_FINGERPRINT).scalar_one()
    return fingerprint


@pytest.fixture(scope="session")
def probe_pool() -> Iterator[ProbePool]:
    """One isolated pool with the default chain for the whole run."""
    settings = Settings(probe_processes=2, probe_timeout_s=10)
    with ProbePool(
        build_chain(settings), settings.probe_processes, settings.probe_timeout_s
    ) as pool:
        yield pool


@pytest.fixture
def clock() -> SystemClock:
    """The real clock (tests that need fixed time build a FixedClock)."""
    return SystemClock()


FAST_ENGINE = {
    "heartbeat_s": 0.2,
    "lease_s": 1.0,
    "poll_s": 0.05,
    "job_retry_base_s": 0.05,
    "job_retry_max_s": 0.2,
    "probe_processes": 2,
    "probe_timeout_s": 10,
    "library_wait_s": 0.3,
}


def make_runtime(
    database: Database, library: Path | None, pool: ProbePool | None = None, **overrides: object
) -> Runtime:
    """Return a runtime over `database` and `library` with fast engine timings."""
    settings = Settings(
        library=library,
        database_url=database.url,
        **{**FAST_ENGINE, **overrides},  # type: ignore[arg-type]
    )
    return Runtime(settings=settings, db=database, shared_pool=pool)


def run_job(runtime: Runtime, kind: str, params: dict[str, object] | None = None,
            timeout_s: float = 60.0) -> Job:  # fmt: skip
    """Enqueue a job, run it with this runtime's worker (started if needed), return it ended."""
    with runtime.db.unit_of_work() as session:
        job_id = create_job(session, runtime.registry, runtime.clock, kind=kind,
                            params=params or {}, trigger="cli", actor="test").id  # fmt: skip
    return wait_for_job(runtime, job_id, timeout_s)


def wait_for_job(runtime: Runtime, job_id: int, timeout_s: float = 60.0) -> Job:
    """Run the worker until `job_id` ends; return the ended job."""
    if runtime.worker is None:
        runtime.start_worker()
    assert runtime.worker is not None
    runtime.worker.wake()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with runtime.db.unit_of_work() as session:
            job = get_job(session, job_id)
        if job.status in ("completed", "failed", "cancelled"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not end within {timeout_s}s: {job.status}")


@pytest.fixture
def runtime(database: Database, library: Path, probe_pool: ProbePool) -> Iterator[Runtime]:
    """A runtime over the library copy; its worker (if started) stops after the test."""
    built = make_runtime(database, library, probe_pool)
    yield built
    if built.worker is not None:
        built.worker.stop()
        built.worker = None


def scan(runtime: Runtime, **params: object) -> Job:
    """Run one library scan to its end."""
    return run_job(runtime, "library_scan", dict(params))
