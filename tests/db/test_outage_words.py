"""How a SQLite file's own failures are named to users: by what to do, without its path."""

from __future__ import annotations

import os
import sqlite3
import threading
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from mediashelf.db.engine import normalize_url
from mediashelf.db.outage import describe
from mediashelf.jobs.resilience import is_outage
from tests.polling import wait_until


def failure_of(url: str, statement: str) -> DBAPIError:
    """Run `statement` on `url` and return the error SQLAlchemy raised."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(statement))
    except DBAPIError as exc:
        return exc
    finally:
        engine.dispose()
    raise AssertionError(f"{statement} did not fail")


def test_a_read_only_file_is_named_so(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE t (x)")
        conn.commit()
    error = failure_of(f"sqlite:///file:{path}?mode=ro&uri=true", "INSERT INTO t VALUES (1)")
    # (mode=ro: as root, file permissions would not stop the write)
    assert describe(error) == "the database file is read-only for this user"


def test_a_file_that_cannot_be_opened_is_named_so(tmp_path: Path) -> None:
    error = failure_of(f"sqlite:///{tmp_path / 'no-such-folder' / 'm.db'}", "SELECT 1")
    said = describe(error)
    assert said.startswith("the database file cannot be opened")
    assert str(tmp_path) not in said


@pytest.mark.parametrize("damage", ["not a database", "damaged pages"])
def test_a_damaged_file_says_to_restore(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "m.db"
    if damage == "not a database":
        path.write_bytes(b"this is not a database" * 300)
    else:
        with closing(sqlite3.connect(path)) as conn:
            conn.execute("CREATE TABLE t (x)")
            conn.executemany("INSERT INTO t VALUES (?)", [(os.urandom(500),)] * 200)
            conn.commit()
        with open(path, "r+b") as handle:  # the table's pages, as a failing disk leaves them
            handle.seek(2 * 4096)
            handle.write(b"\xff" * 8 * 4096)
    error = failure_of(f"sqlite:///{path}", "SELECT count(*) FROM t")
    assert "damaged" in describe(error)


@pytest.mark.parametrize(
    ("wrong", "says"),
    [("database", "the database named in the URL does not exist"),
     ("username", "the user named in the URL does not exist")],
)  # fmt: skip
def test_a_server_that_refuses_the_url_is_not_called_unreachable(
    pg_database: str, wrong: str, says: str
) -> None:
    """doctor said "database unreachable: start the database server" for a server that runs."""
    url = make_url(normalize_url(pg_database))
    if wrong == "database":
        url = url.set(database="mediashelf_no_such_db")
    else:
        url = url.set(username="mediashelf_no_such_role")
    error = failure_of(url.render_as_string(hide_password=False), "SELECT 1")
    assert describe(error) == says
    assert "127.0.0.1" not in describe(error)


def test_a_deadlock_is_named_a_collision_and_retried_not_an_outage(pg_database: str) -> None:
    """Two writers taking the same locks in opposite orders: the server is fine and one of
    them runs again, so users must not read "database unreachable"."""
    engine = create_engine(normalize_url(pg_database))
    failures: list[DBAPIError] = []
    try:
        with engine.connect() as first, engine.connect() as second:
            first.execute(text("SELECT pg_advisory_xact_lock(1)"))
            second.execute(text("SELECT pg_advisory_xact_lock(2)"))
            second_pid = second.execute(text("SELECT pg_backend_pid()")).scalar_one()

            def second_takes_one() -> None:
                try:
                    second.execute(text("SELECT pg_advisory_xact_lock(1)"))
                except DBAPIError as exc:
                    failures.append(exc)
                second.rollback()

            thread = threading.Thread(target=second_takes_one)
            thread.start()

            def second_waits() -> bool:
                with engine.connect() as probe:
                    waiting = probe.execute(
                        text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"),
                        {"pid": second_pid},
                    ).scalar()
                return waiting == "Lock"

            wait_until(second_waits, "the second writer to wait for the first")
            try:
                first.execute(text("SELECT pg_advisory_xact_lock(2)"))
            except DBAPIError as exc:
                failures.append(exc)
            first.rollback()
            thread.join(timeout=30)
    finally:
        engine.dispose()
    assert len(failures) == 1, failures
    assert is_outage(failures[0])  # worth running again
    assert describe(failures[0]).startswith("a write collided with another writer's")
