"""Alembic environment: runs on the connection mediashelf hands it (see db/migrate.py)."""

from __future__ import annotations

from alembic import context

from mediashelf.db.schema import Base
from mediashelf.db.search import is_search_object

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    # The search index belongs to migration 0004, not to the models: autogenerate leaves it be.
    include_name=lambda name, _type, _parents: not is_search_object(name),
)
with context.begin_transaction():
    context.run_migrations()
