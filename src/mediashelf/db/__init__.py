"""Database access: engine, units of work, schema and migrations."""
