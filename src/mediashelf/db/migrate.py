"""Schema migrations through Alembic, driven from code (no alembic.ini to find).

Alembic is imported only when there is something to do: a process starting on a current
schema (every start but the first after an upgrade) checks the stored revision with one query
against the newest migration file, which keeps `mediashelf scan` quick to start.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, inspect, text

from mediashelf.db.schema import Base
from mediashelf.db.search import create_search, is_search_object
from mediashelf.db.session import Database
from mediashelf.errors import SchemaTooNew

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")


def file_revisions() -> list[str]:
    """Return the shipped migrations' ids, oldest first: files are named NNNN_*.py, ids NNNN."""
    return sorted(
        path.name[:4] for path in (MIGRATIONS / "versions").glob("[0-9][0-9][0-9][0-9]_*.py")
    )


def newest_file_revision() -> str:
    """Return the newest migration's id."""
    return file_revisions()[-1]


def stored_revision(db: Database) -> str | None:
    """Return the schema's revision with one query (no alembic import); None: no schema."""
    with db.engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        value = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        return str(value) if value is not None else None


def _config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


# Any constant works; it names "mediashelf migrations" among the server's advisory locks.
PG_MIGRATION_LOCK = 0x6D656469


def upgrade(db: Database, revision: str = "head") -> None:
    """Bring the schema up to `revision`; processes starting together migrate one at a time.

    PostgreSQL: a transaction-level advisory lock around the migration. SQLite: an exclusive
    lock on a file beside the database. The second process then finds the schema current.
    """
    stored = stored_revision(db)
    if revision == "head" and stored == newest_file_revision():
        return  # current: nothing to migrate, no alembic to import
    refuse_newer(stored)
    with _file_lock(db), db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_MIGRATION_LOCK})
        if revision == "head" and not inspect(conn).get_table_names():
            create_current(conn)
            return
        from alembic import command

        config = _config()
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def downgrade(db: Database, revision: str) -> None:
    """Take the schema back to `revision` (an older release's, or "base": no tables), locked as
    upgrade is.

    For going back to an earlier version of mediashelf: every migration's downgrade is run in
    a round trip against the step-by-step upgrade in the tests, on SQLite and PostgreSQL.
    """
    refuse_newer(stored_revision(db))
    with _file_lock(db), db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_MIGRATION_LOCK})
        from alembic import command

        config = _config()
        config.attributes["connection"] = conn
        command.downgrade(config, revision)


def refuse_newer(stored: str | None) -> None:
    """Raise SchemaTooNew when `stored` is a revision this version does not ship.

    A newer mediashelf migrated the database (another host of a shared PostgreSQL, or a
    downgrade of the package): alembic would fail with a traceback, and running on would
    misread the tables.
    """
    if stored is not None and not known_revision(stored):
        raise SchemaTooNew(
            f"The database's schema is at revision {stored}, newer than this version of "
            f"mediashelf knows (newest {head_revision()}): run the mediashelf version that "
            "migrated it (upgrade this host's mediashelf), or restore a backup taken before."
        )


def create_current(conn: Connection) -> None:
    """Create the newest schema in an empty database directly, stamped with its revision.

    The same schema the migrations build step by step (a test compares the two), in a tenth
    of the time: a first `mediashelf scan` or `make run` starts 0.1 s sooner without alembic.
    """
    Base.metadata.create_all(conn)
    create_search(conn)
    conn.execute(text(
        "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
        "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
    ))  # fmt: skip
    conn.execute(text("INSERT INTO alembic_version (version_num) VALUES (:revision)"),
                 {"revision": newest_file_revision()})  # fmt: skip


@contextmanager
def _file_lock(db: Database) -> Iterator[None]:
    database = db.engine.url.database if db.dialect == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    with migration_lock(Path(database)):
        yield


MIGRATE_LOCK_SUFFIX = ".migrate-lock"


@contextmanager
def migration_lock(database: Path) -> Iterator[None]:
    """Hold the lock that migrations (and restores) of the SQLite file `database` take."""
    with open(f"{database}{MIGRATE_LOCK_SUFFIX}", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def current_revision(db: Database) -> str | None:
    """Return the schema's revision, or None for an empty database."""
    from alembic.runtime.migration import MigrationContext

    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    """Return the newest revision shipped with this version."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config()).get_current_head()


def schema_diff(db: Database) -> list[Any]:
    """Return the differences between the live schema and the models (empty when they match)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with db.engine.connect() as conn:
        opts = {"compare_type": True, "include_name": _modelled}
        context = MigrationContext.configure(conn, opts=opts)
        return list(compare_metadata(context, Base.metadata))


def _modelled(name: str | None, _type: str, _parents: object) -> bool:
    """Leave out the search index (FTS5 table, trigram indexes): migrations own it, not models."""
    return not is_search_object(name)


def known_revision(revision: str) -> bool:
    """Tell whether `revision` is one this version ships (a newer schema's is not)."""
    from alembic.script import ScriptDirectory

    try:
        return ScriptDirectory.from_config(_config()).get_revision(revision) is not None
    except Exception:  # alembic raises its own errors for unknown or malformed ids
        return False
