"""Schema migrations through Alembic, driven from code (no alembic.ini to find)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from mediashelf.db.schema import Base
from mediashelf.db.session import Database

MIGRATIONS = Path(__file__).with_name("migrations")


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(db: Database, revision: str = "head") -> None:
    """Bring the schema up to `revision`."""
    config = _config()
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def current_revision(db: Database) -> str | None:
    """Return the schema's revision, or None for an empty database."""
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    """Return the newest revision shipped with this version."""
    return ScriptDirectory.from_config(_config()).get_current_head()


def schema_diff(db: Database) -> list[Any]:
    """Return the differences between the live schema and the models (empty when they match)."""
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))
