"""Which database errors are an outage (wait and retry) rather than a bug or bad data.

The worker retries transient errors with backoff and the web answers 503 for them; a full
disk is told apart because waiting does not help until someone frees space (HTTP 507).
Nothing here formats a message for users: `describe` gives the class of the outage only,
never the server's address or its own error text.
"""

from __future__ import annotations

import sqlite3

from sqlalchemy import exc as sa_exc

# SQLSTATE codes (or classes, by prefix) that mean "the server is away or busy, try again":
# connection exceptions, admin/crash shutdown, cannot connect now, serialization failure,
# deadlock, too many connections, lock not available.
TRANSIENT_SQLSTATES = ("08", "57P01", "57P02", "57P03", "40001", "40P01", "53300", "55P03")
FULL_SQLSTATES = ("53100",)
# Of those, the ones where the server is fine and two writers collided: it chose one
# transaction to throw away, and running it again succeeds. Not an outage to report as one.
CONFLICT_SQLSTATES = ("40001", "40P01")
SQLITE_TRANSIENT = ("database is locked", "database table is locked", "unable to open database")
SQLITE_FULL = ("database or disk is full",)
# SQLite's own words for the file, named to the user by what to do about them.
SQLITE_FILE_PROBLEMS = (
    ("readonly database", "the database file is read-only for this user"),
    ("unable to open database", "the database file cannot be opened (its folder is missing, "
     "or this user may not write there)"),
    ("malformed", "the database file is damaged (restore a backup: mediashelf db restore)"),
    ("file is not a database", "the database file is damaged or is not a database"),
)  # fmt: skip


# libpq's words when the server answers but refuses the connection: the URL is wrong, not
# the server away. Matched to name the class only; the server's text is never shown.
PG_REFUSALS = (
    (("fatal:", "database", "does not exist"), "the database named in the URL does not exist"),
    (("fatal:", "role", "does not exist"), "the user named in the URL does not exist"),
    (("password authentication failed",), "the server refused the user or password"),
    (("server does not support ssl",), "the server does not support SSL (sslmode in the URL)"),
)


def _original(exc: BaseException) -> BaseException:
    return exc.orig if isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None else exc


def _sqlstate(exc: BaseException) -> str:
    return str(getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None) or "")


def is_storage_full(exc: BaseException) -> bool:
    """Tell whether `exc` says the database's disk is full."""
    orig = _original(exc)
    if isinstance(orig, sqlite3.OperationalError):
        return any(text in str(orig).lower() for text in SQLITE_FULL)
    return _sqlstate(orig).startswith(FULL_SQLSTATES)


def is_transient(exc: BaseException) -> bool:
    """Tell whether `exc` is a database outage that retrying later can get past."""
    if isinstance(exc, sa_exc.TimeoutError):  # connection pool exhausted
        return True
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    orig = _original(exc)
    if isinstance(orig, sqlite3.OperationalError):
        return any(text in str(orig).lower() for text in SQLITE_TRANSIENT)
    state = _sqlstate(orig)
    if state:
        return state.startswith(TRANSIENT_SQLSTATES)
    # psycopg raises OperationalError without a SQLSTATE when it cannot connect at all.
    return type(orig).__name__ == "OperationalError" and type(orig).__module__.startswith("psycopg")


def is_conflict(exc: BaseException) -> bool:
    """Tell whether `exc` is a transaction the server rolled back for colliding with another."""
    return _sqlstate(_original(exc)).startswith(CONFLICT_SQLSTATES)


def describe(exc: BaseException) -> str:
    """Return the class of a database failure in words, safe to show to anyone."""
    if is_storage_full(exc):
        return "disk full"
    orig = _original(exc)
    if isinstance(orig, sqlite3.OperationalError) and "locked" in str(orig).lower():
        return "database locked by another process"
    problem = file_problem(exc) or _pg_refusal(orig)
    if problem is not None:
        return problem
    if is_conflict(exc):
        return "a write collided with another writer's (deadlock or serialization failure)"
    if is_transient(exc):
        return "database unreachable"
    return f"database error ({type(orig).__name__})"


def file_problem(exc: BaseException) -> str | None:
    """Return what is wrong with a SQLite database's file (read-only, damaged, cannot be
    opened), in words for users; None for other failures. Waiting does not mend these."""
    orig = _original(exc)
    if isinstance(orig, sqlite3.DatabaseError):
        said = str(orig).lower()
        for words, meaning in SQLITE_FILE_PROBLEMS:
            if words in said:
                return meaning
    return None


def _pg_refusal(orig: BaseException) -> str | None:
    """Return why a PostgreSQL server refused the connection, when the URL is the cause."""
    if not type(orig).__module__.startswith("psycopg"):
        return None
    said = str(orig).lower()
    for words, meaning in PG_REFUSALS:
        if all(word in said for word in words):
            return meaning
    return None
