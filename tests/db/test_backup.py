"""`mediashelf db backup` / `restore`: a backup taken during a running scan holds every commit."""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from mediashelf.cli.exits import FAILED, NOT_FOUND, OK, USAGE
from mediashelf.cli.main import app
from mediashelf.db.backup import backup_sqlite
from mediashelf.db.migrate import (
    current_revision,
    downgrade,
    file_revisions,
    head_revision,
    upgrade,
)
from mediashelf.db.schema import Job, Track
from mediashelf.db.session import Database
from mediashelf.jobs.service import cancel_job, create_job
from mediashelf.probe.pool import ProbePool
from mediashelf.runtime import Runtime
from tests.conftest import Corpus, make_runtime, wait_for_job
from tests.polling import wait_until

runner = CliRunner()
FILES = 240


def relpaths(url: str) -> set[str]:
    """Return the relpaths of every track in the database at `url`."""
    with Database(url) as db, db.unit_of_work() as session:
        return set(session.scalars(select(Track.relpath)))


def the_job(url: str, job_id: int) -> Job:
    """Return the job as the database at `url` holds it."""
    with Database(url) as db, db.unit_of_work() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job


@pytest.fixture
def big_library(corpus: Corpus, tmp_path: Path) -> Path:
    """A library of FILES small mp3 files in 24 folders."""
    root = tmp_path / "library"
    for i in range(FILES):
        folder = root / f"Artist {i // 10:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(corpus.root / "audio/plain.mp3", folder / f"{i:03d}.mp3")
    return root


@pytest.fixture
def live(tmp_path: Path, big_library: Path, probe_pool: ProbePool) -> Iterator[Runtime]:
    """A runtime over a SQLite database in tmp_path (backups are a SQLite feature)."""
    db = Database(f"sqlite:///{tmp_path / 'data' / 'mediashelf.db'}")
    upgrade(db)
    runtime = make_runtime(db, big_library, probe_pool)
    yield runtime
    runtime.close()


def env_for(url: str) -> dict[str, str | None]:
    """Point the CLI at the database at `url`."""
    return {"MEDIASHELF_DATABASE_URL": url, "MEDIASHELF_LEASE_S": "30"}


def test_a_backup_during_a_scan_restores_every_committed_row(live: Runtime, tmp_path: Path) -> None:
    with live.db.unit_of_work() as session:
        job_id = create_job(session, live.registry, live.clock, kind="library_scan",
                            params={"batch_size": 10, "throttle_ms": 400}, trigger="cli",
                            actor="test").id  # fmt: skip
    live.start_worker()
    wait_until(lambda: len(relpaths(live.db.url)) >= 30, "a few committed batches")
    committed = relpaths(live.db.url)  # every track of every batch committed so far
    backup = tmp_path / "backups" / "mediashelf-backup.db"
    backup.parent.mkdir()
    result = runner.invoke(app, ["db", "backup", str(backup)], env=env_for(live.db.url))
    assert result.exit_code == OK, result.output
    assert the_job(live.db.url, job_id).status == "running"  # the scan went on meanwhile
    with live.db.unit_of_work() as session:
        cancel_job(session, live.clock, job_id, actor="test")
    live.job_cancelled(job_id)
    wait_for_job(live, job_id)
    live.close()

    target = tmp_path / "restored" / "mediashelf.db"
    url = f"sqlite:///{target}"
    result = runner.invoke(app, ["db", "restore", str(backup)], env=env_for(url))
    assert result.exit_code == OK, result.output
    restored = relpaths(url)
    assert committed <= restored
    snapshot = the_job(url, job_id)
    assert snapshot.status == "running"  # as it was when the backup began
    assert snapshot.checkpoint is not None
    after = snapshot.checkpoint["after"]
    # one transaction per batch and its checkpoint: the copy holds whole batches, in order
    assert restored == {p for p in relpaths(live.db.url) if p <= after}
    with closing(sqlite3.connect(target)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_restore_refuses_while_workers_heartbeat(live: Runtime, tmp_path: Path) -> None:
    backup = tmp_path / "copy.db"
    db_file = Path(live.db.engine.url.database or "")
    backup_sqlite(db_file, backup)
    live.start_worker()
    result = runner.invoke(app, ["db", "restore", str(backup)], env=env_for(live.db.url))
    assert result.exit_code == FAILED
    assert "in use" in result.output
    assert not db_file.with_name(db_file.name + ".before-restore").exists()
    assert live.worker is not None
    live.worker.stop()  # a clean stop deregisters the worker
    live.worker = None
    result = runner.invoke(app, ["db", "restore", str(backup)], env=env_for(live.db.url))
    assert result.exit_code == OK, result.output
    assert db_file.with_name(db_file.name + ".before-restore").exists()


def test_restore_refuses_newer_schemas_and_other_files(live: Runtime, tmp_path: Path) -> None:
    db_file = Path(live.db.engine.url.database or "")
    future = tmp_path / "future.db"
    backup_sqlite(db_file, future)
    with closing(sqlite3.connect(future)) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999_future'")
        conn.commit()
    result = runner.invoke(app, ["db", "restore", str(future)], env=env_for(live.db.url))
    assert result.exit_code == USAGE
    assert "newer than this version knows" in result.output
    assert f"({head_revision()})" in result.output
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    result = runner.invoke(app, ["db", "restore", str(junk)], env=env_for(live.db.url))
    assert result.exit_code == USAGE
    assert "not a SQLite database" in result.output
    result = runner.invoke(app, ["db", "restore", str(tmp_path)], env=env_for(live.db.url))
    assert result.exit_code == USAGE
    assert "is not a file" in result.output
    result = runner.invoke(app, ["db", "restore", str(tmp_path / "nope.db")],
                           env=env_for(live.db.url))  # fmt: skip
    assert result.exit_code == NOT_FOUND  # §9: 3 not found
    assert "There is no backup file at" in result.output
    assert not db_file.with_name(db_file.name + ".before-restore").exists()


def test_restore_refuses_a_file_that_only_claims_a_mediashelf_schema(
    live: Runtime, tmp_path: Path
) -> None:
    """Another program's SQLite file with an `alembic_version` row (alembic is common) was
    restored over the library: every page and command then failed on a missing table."""
    db_file = Path(live.db.engine.url.database or "")
    before = relpaths(live.db.url)
    foreign = tmp_path / "other-app.db"
    with closing(sqlite3.connect(foreign)) as conn:
        conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
        conn.execute("INSERT INTO alembic_version VALUES (?)", (head_revision(),))
        conn.execute("CREATE TABLE tracks (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute('CREATE TABLE "a""b" (x)')  # a name that breaks naive quoting
        conn.commit()
    result = runner.invoke(app, ["db", "restore", str(foreign)], env=env_for(live.db.url))
    assert result.exit_code == USAGE, result.output
    assert "other-app.db is not a mediashelf database" in result.output
    assert "tracks.added_at" in result.output  # a table of that name, not this one
    assert "table jobs" in result.output
    older = tmp_path / "older.db"  # a real backup of an old schema still restores
    backup_sqlite(db_file, older)
    with Database(f"sqlite:///{older}") as db:
        downgrade(db, file_revisions()[1])
    assert not db_file.with_name(db_file.name + ".before-restore").exists()
    assert relpaths(live.db.url) == before
    live.close()
    restored = runner.invoke(app, ["db", "restore", str(older)], env=env_for(live.db.url))
    assert restored.exit_code == OK, restored.output


def test_postgresql_is_backed_up_with_pg_dump(tmp_path: Path) -> None:
    url = "postgresql://media:s3cret@db.example:5433/mediashelf"
    result = runner.invoke(app, ["db", "backup", str(tmp_path / "x.dump")], env=env_for(url))
    assert result.exit_code == USAGE
    expected = (f"pg_dump --format=custom --file={tmp_path / 'x.dump'} "
                "postgresql://media@db.example:5433/mediashelf")  # fmt: skip
    assert expected in result.stdout
    assert "s3cret" not in result.output
    result = runner.invoke(app, ["db", "restore", str(tmp_path / "x.dump")], env=env_for(url))
    assert result.exit_code == USAGE
    assert "pg_restore --clean --if-exists --no-owner" in result.stdout
    assert "s3cret" not in result.output


@pytest.mark.parametrize("suffix", ["", "-wal", "-shm"])
def test_backup_refuses_to_overwrite_the_live_database(
    live: Runtime, tmp_path: Path, suffix: str
) -> None:
    db_file = Path(live.db.engine.url.database or "")
    with live.db.unit_of_work() as session:
        job_id = create_job(session, live.registry, live.clock, kind="library_scan",
                            params={}, trigger="cli", actor="test").id  # fmt: skip
    inode = db_file.stat().st_ino
    target = db_file.with_name(db_file.name + suffix)
    result = runner.invoke(app, ["db", "backup", str(target)], env=env_for(live.db.url))
    assert result.exit_code == USAGE, result.output
    assert "live database" in result.output
    assert db_file.stat().st_ino == inode  # not replaced beneath the open connections
    assert the_job(live.db.url, job_id).status == "pending"
    result = runner.invoke(app, ["db", "restore", str(db_file)], env=env_for(live.db.url))
    assert result.exit_code == USAGE, result.output
    assert not db_file.with_name(db_file.name + ".before-restore").exists()


def track_count(url: str) -> int:
    """Return how many tracks the database at `url` holds."""
    return len(relpaths(url))


def test_undoing_a_restore_brings_the_replaced_database_back(live: Runtime, tmp_path: Path) -> None:
    """Restoring `<name>.before-restore` (the undo the message invites) lost both copies: the
    old database was saved over the very file being restored from."""
    wait_for_job(live, _scan(live))
    db_file = Path(live.db.engine.url.database or "")
    indexed = track_count(live.db.url)
    assert indexed == FILES
    empty = tmp_path / "empty.db"
    with Database(f"sqlite:///{empty}") as other:
        upgrade(other)
    live.close()
    env = env_for(live.db.url)
    result = runner.invoke(app, ["db", "restore", str(empty)], env=env)
    assert result.exit_code == OK, result.output
    assert track_count(live.db.url) == 0
    kept = db_file.with_name(db_file.name + ".before-restore")
    assert f"kept as {kept}" in result.output
    result = runner.invoke(app, ["db", "restore", str(kept)], env=env)
    assert result.exit_code == OK, result.output
    assert track_count(live.db.url) == indexed
    assert track_count(f"sqlite:///{kept}") == 0  # the empty one, kept in its turn


def backup_then_stop(live: Runtime, tmp_path: Path, name: str = "good.db") -> tuple[Path, Path]:
    """Back the live database up, then stop its runtime; return (its file, the backup)."""
    db_file = Path(live.db.engine.url.database or "")
    backup = tmp_path / name
    backup_sqlite(db_file, backup)
    live.close()
    return db_file, backup


def test_a_damaged_database_is_restored_over_and_kept_as_it_was(
    live: Runtime, tmp_path: Path
) -> None:
    wait_for_job(live, _scan(live))
    db_file, good = backup_then_stop(live, tmp_path)
    with closing(sqlite3.connect(db_file)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    with open(db_file, "r+b") as handle:  # pages 11-13 overwritten, as a failing disk does
        handle.seek(10 * 4096)
        handle.write(b"\xff" * 3 * 4096)
    result = runner.invoke(app, ["db", "restore", str(good)], env=env_for(live.db.url))
    assert result.exit_code == OK, result.output
    assert track_count(live.db.url) == FILES
    kept = db_file.with_name(db_file.name + ".before-restore")
    assert kept.read_bytes()[10 * 4096 : 10 * 4096 + 8] == b"\xff" * 8  # moved aside untouched


def test_a_database_damaged_from_its_first_page_is_restored_over(
    live: Runtime, tmp_path: Path
) -> None:
    """`db check` called it damaged and said to restore a backup; the restore refused the
    same way ("the database file is damaged"): its in-use check read the damaged file."""
    db_file, good = backup_then_stop(live, tmp_path)
    for suffix in ("-wal", "-shm"):
        db_file.with_name(db_file.name + suffix).unlink(missing_ok=True)
    db_file.write_bytes(b"garbage where the header was\n")
    env = env_for(live.db.url)
    assert runner.invoke(app, ["db", "check"], env=env).exit_code == FAILED
    result = runner.invoke(app, ["db", "restore", str(good)], env=env)
    assert result.exit_code == OK, result.output
    assert runner.invoke(app, ["db", "check"], env=env).exit_code == OK
    kept = db_file.with_name(db_file.name + ".before-restore")
    assert kept.read_bytes() == b"garbage where the header was\n"


def test_a_restore_of_an_old_schema_can_be_undone(live: Runtime, tmp_path: Path) -> None:
    """After restoring a backup from before the workers table, restoring `.before-restore`
    failed with "database error (OperationalError)": the in-use check queried workers."""
    wait_for_job(live, _scan(live))
    db_file, old = backup_then_stop(live, tmp_path, "old.db")
    with Database(f"sqlite:///{old}") as other:
        downgrade(other, file_revisions()[0])
    env = env_for(live.db.url)
    result = runner.invoke(app, ["db", "restore", str(old)], env=env)
    assert result.exit_code == OK, result.output
    kept = db_file.with_name(db_file.name + ".before-restore")
    result = runner.invoke(app, ["db", "restore", str(kept)], env=env)
    assert result.exit_code == OK, result.output
    assert track_count(live.db.url) == FILES


def test_a_restore_over_a_database_another_process_writes_gives_up(
    live: Runtime, tmp_path: Path
) -> None:
    """Another process writing: the restore waited for its lock forever (sqlite3's backup
    retries a locked destination without end). It gives up after the busy timeout."""
    wait_for_job(live, _scan(live))
    db_file, good = backup_then_stop(live, tmp_path)
    with closing(sqlite3.connect(db_file)) as holder:
        holder.execute("BEGIN EXCLUSIVE")
        env = {**env_for(live.db.url), "MEDIASHELF_SQLITE_BUSY_TIMEOUT_MS": "200"}
        result = runner.invoke(app, ["db", "restore", str(good)], env=env)
        holder.rollback()
    assert result.exit_code == FAILED, result.output
    assert "locked by another process" in result.output
    assert track_count(live.db.url) == FILES  # the live database as it was


def test_restore_into_nothing_says_there_was_nothing(live: Runtime, tmp_path: Path) -> None:
    db_file = Path(live.db.engine.url.database or "")
    backup = tmp_path / "copy.db"
    backup_sqlite(db_file, backup)
    target = tmp_path / "fresh" / "new.db"
    result = runner.invoke(app, ["db", "restore", str(backup)], env=env_for(f"sqlite:///{target}"))
    assert result.exit_code == OK, result.output
    assert "there was none before" in result.output
    assert not target.with_name(target.name + ".before-restore").exists()


def test_backup_refuses_what_is_not_a_regular_file_and_the_lock_file(
    live: Runtime, tmp_path: Path
) -> None:
    """`db backup /dev/full` as root replaced the device node with the backup."""
    db_file = Path(live.db.engine.url.database or "")
    fifo = tmp_path / "a-fifo"
    os.mkfifo(fifo)
    folder = tmp_path / "a-folder"
    folder.mkdir()
    lock = db_file.with_name(db_file.name + ".migrate-lock")
    lock.touch()
    for target, says in ((fifo, "not a regular file"), (folder, "not a regular file"),
                         (lock, "live database")):  # fmt: skip
        result = runner.invoke(app, ["db", "backup", str(target)], env=env_for(live.db.url))
        assert result.exit_code == USAGE, result.output
        assert says in result.output
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert lock.stat().st_size == 0


def _scan(live: Runtime) -> int:
    """Queue a full scan of the library and start a worker for it; return the job id."""
    with live.db.unit_of_work() as session:
        job_id = create_job(session, live.registry, live.clock, kind="library_scan",
                            params={}, trigger="cli", actor="test").id  # fmt: skip
    live.start_worker()
    return job_id


def test_downgrade_refuses_while_workers_heartbeat(live: Runtime) -> None:
    """A downgrade under a running service dropped columns its queries use: 500s after."""
    older = file_revisions()[-2]
    live.start_worker()
    result = runner.invoke(app, ["db", "downgrade", older], env=env_for(live.db.url))
    assert result.exit_code == FAILED, result.output
    assert "in use" in result.output
    assert "then take the schema back" in result.output
    with Database(live.db.url) as db:
        assert current_revision(db) == head_revision()
    assert live.worker is not None
    live.worker.stop()  # a clean stop deregisters the worker
    live.worker = None
    result = runner.invoke(app, ["db", "downgrade", older], env=env_for(live.db.url))
    assert result.exit_code == OK, result.output
    assert f"schema at revision {older}" in result.output


def test_db_check_finds_a_damaged_file(live: Runtime) -> None:
    """It said "schema current" (exit 0) over pages a failing disk had overwritten."""
    wait_for_job(live, _scan(live))
    db_file = Path(live.db.engine.url.database or "")
    live.close()
    assert runner.invoke(app, ["db", "check"], env=env_for(live.db.url)).exit_code == OK
    with closing(sqlite3.connect(db_file)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    with open(db_file, "r+b") as handle:
        handle.seek(10 * 4096)
        handle.write(b"\xff" * 3 * 4096)
    result = runner.invoke(app, ["db", "check"], env=env_for(live.db.url))
    assert result.exit_code == FAILED, result.output
    assert "damaged" in result.output
    assert "db restore" in result.output


def test_db_commands_name_a_data_folder_that_cannot_be_made(tmp_path: Path) -> None:
    """`db upgrade`, `downgrade` and `restore` ended in a traceback (FileExistsError) where
    the other commands say which folder cannot be used (exit 2)."""
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    backup = tmp_path / "copy.db"
    with Database(f"sqlite:///{backup}") as other:
        upgrade(other)
    env = {"MEDIASHELF_DATA_DIR": str(a_file), "MEDIASHELF_DATABASE_URL": None}
    for command in (["db", "upgrade"], ["db", "downgrade", file_revisions()[0]],
                    ["db", "restore", str(backup)]):  # fmt: skip
        result = runner.invoke(app, command, env=env)
        assert result.exit_code == USAGE, (command, result.output)
        assert f"Cannot use the data folder: File exists ({a_file})" in result.output
        assert "Traceback" not in result.output
