"""The `mediashelf` command: demo, db, rescan exit codes, and serve end to end."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select, text, update
from typer.testing import CliRunner

from mediashelf.cli.exits import FAILED, NOT_FOUND, USAGE
from mediashelf.cli.main import app
from mediashelf.clock import SystemClock
from mediashelf.config import Settings
from mediashelf.db.migrate import file_revisions
from mediashelf.db.schema import Track
from mediashelf.db.schema import Worker as WorkerRow
from mediashelf.db.session import Database
from mediashelf.jobs.store import JobStore
from mediashelf.probe.pool import ProbePool
from tests.web.conftest import index_library

runner = CliRunner()


def env_for(database: Database, library: Path) -> dict[str, str]:
    """Environment that points the CLI at `database` and `library`."""
    return {
        "MEDIASHELF_DATABASE_URL": database.url, "MEDIASHELF_LIBRARY": str(library),
        "MEDIASHELF_LIBRARY_WAIT_S": "0.3", "MEDIASHELF_JOB_RETRY_BASE_S": "0.05",
        "MEDIASHELF_JOB_RETRY_MAX_S": "0.2",
    }  # fmt: skip


def video_id_of(database: Database, relpath: str) -> str:
    """Return the video id of the track at `relpath`."""
    with database.unit_of_work() as session:
        value = session.scalar(select(Track.video_id).where(Track.relpath == relpath))
    assert value is not None
    return value


def test_demo_writes_a_playable_library(tmp_path: Path, probe_pool: ProbePool) -> None:
    result = runner.invoke(app, ["demo", str(tmp_path / "demo"), "--count", "12"])
    assert result.exit_code == 0, result.output
    files = [p for p in (tmp_path / "demo").rglob("*") if p.is_file()]
    assert len(files) == 12
    outcomes = [outcome for _, outcome in probe_pool.probe_many(files)]
    assert all(not isinstance(o, Exception) for o in outcomes), outcomes
    assert any(getattr(o, "has_video", False) for o in outcomes)
    assert any(not getattr(o, "has_video", True) for o in outcomes)


def test_demo_into_an_unwritable_place_says_so_in_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = runner.invoke(app, ["demo", str(blocker / "demo"), "--count", "2"])
    assert result.exit_code == FAILED, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.output.startswith("error: cannot write the demo library: Not a directory")
    assert len(result.output.strip().splitlines()) == 1


def test_db_upgrade_then_check(db_url: str) -> None:
    env = {"MEDIASHELF_DATABASE_URL": db_url}
    before = runner.invoke(app, ["db", "check"], env=env)
    assert before.exit_code == USAGE
    assert "db upgrade" in before.output
    as_json = runner.invoke(app, ["db", "check", "--json"], env=env)
    assert as_json.exit_code == USAGE
    assert json.loads(as_json.stdout)["revision"] is None
    assert "db upgrade" in json.loads(as_json.stdout)["error"]
    if db_url.startswith("sqlite"):
        assert not Path(db_url.removeprefix("sqlite:///")).exists()  # checking created nothing
    upgraded = runner.invoke(app, ["db", "upgrade"], env=env)
    assert upgraded.exit_code == 0, upgraded.output
    assert runner.invoke(app, ["db", "upgrade"], env=env).exit_code == 0  # idempotent
    after = runner.invoke(app, ["db", "check"], env=env)
    assert after.exit_code == 0, after.output
    assert "schema current" in after.output
    body = json.loads(runner.invoke(app, ["db", "check", "--json"], env=env).stdout)
    assert body["status"] == "ok"
    assert body["revision"] == body["head"]


def test_db_downgrade_goes_back_one_release_and_upgrade_returns(db_url: str) -> None:
    env = {"MEDIASHELF_DATABASE_URL": db_url}
    empty = runner.invoke(app, ["db", "downgrade", "0004"], env=env)
    assert empty.exit_code == USAGE
    assert "no schema yet" in empty.output
    assert runner.invoke(app, ["db", "upgrade"], env=env).exit_code == 0
    unknown = runner.invoke(app, ["db", "downgrade", "9"], env=env)
    assert unknown.exit_code == USAGE
    assert "unknown revision '9'" in unknown.output
    older = file_revisions()[-2]
    down = runner.invoke(app, ["db", "downgrade", older], env=env)
    assert down.exit_code == 0, down.output
    assert f"schema at revision {older}" in down.output
    assert runner.invoke(app, ["db", "check"], env=env).exit_code == USAGE
    again = runner.invoke(app, ["db", "downgrade", older], env=env)
    assert (again.exit_code, again.output.strip()) == (0, f"schema at revision {older} already")
    forward = runner.invoke(app, ["db", "downgrade", file_revisions()[-1]], env=env)
    assert forward.exit_code == USAGE
    assert "`mediashelf db upgrade` goes forward" in forward.output
    assert runner.invoke(app, ["db", "upgrade"], env=env).exit_code == 0
    assert runner.invoke(app, ["db", "check"], env=env).exit_code == 0


def test_a_newer_schema_is_named_not_a_traceback(db_url: str, tmp_path: Path) -> None:
    """A database a newer mediashelf migrated (another host of a shared PostgreSQL) made every
    command print alembic's "Can't locate revision" traceback, and `db check` said upgrade."""
    env = {"MEDIASHELF_DATABASE_URL": db_url, "MEDIASHELF_LIBRARY": str(tmp_path)}
    assert runner.invoke(app, ["db", "upgrade"], env=env).exit_code == 0
    with Database(db_url) as db, db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    for args in (["db", "upgrade"], ["db", "check"], ["db", "downgrade", file_revisions()[0]],
                 ["jobs", "list"], ["scan", "--json"]):  # fmt: skip
        result = runner.invoke(app, args, env=env)
        assert result.exit_code == FAILED, (args, result.output)
        assert "schema is at revision 0099, newer than this version" in result.output, args
        assert "Traceback" not in result.output
        if "--json" in args:
            assert json.loads(result.stdout)["status"] == "error"


def test_rescan_exit_codes(database: Database, library: Path, probe_pool: ProbePool) -> None:
    index_library(database, library, probe_pool)
    env = env_for(database, library)
    good = video_id_of(database, "video/h264_aac.mp4")
    with database.unit_of_work() as session:
        session.execute(update(Track).where(Track.video_id == good).values(bitrate=1))

    ok = runner.invoke(app, ["rescan", good, "--json"], env=env)
    assert ok.exit_code == 0, ok.output
    payload = json.loads(ok.output)
    assert payload["changes"]["bitrate"][0] == 1

    again = runner.invoke(app, ["rescan", good], env=env)
    assert again.exit_code == 0
    assert "nothing changed" in again.output

    assert payload["status"] == "ok"
    assert payload["video_id"] == good
    assert payload["fields_updated"] == ["bitrate"]

    assert runner.invoke(app, ["rescan", "AAAAAAAAAAA"], env=env).exit_code == NOT_FOUND
    assert runner.invoke(app, ["rescan", "bad id"], env=env).exit_code == USAGE
    broken = video_id_of(database, "broken/random.mp4")
    failed = runner.invoke(app, ["rescan", broken], env=env)
    assert failed.exit_code == FAILED
    assert "error" in failed.output
    os.remove(library / "video/h264_aac.mp4")
    assert runner.invoke(app, ["rescan", good], env=env).exit_code == NOT_FOUND
    library.rename(library.with_name("unmounted"))
    audio = video_id_of(database, "audio/flac24_5.1.flac")
    offline = runner.invoke(app, ["rescan", audio, "--json"], env=env)
    assert offline.exit_code == FAILED, offline.output  # not "not found": the disk is away
    assert "library root" in json.loads(offline.stdout)["error"]


def test_an_id_that_starts_with_a_dash_is_an_id_not_an_option(
    database: Database, library: Path, probe_pool: ProbePool
) -> None:
    """One id in 64 starts with "-" (base64url): "No such option: -8" used to refuse it."""
    index_library(database, library, probe_pool)
    env = env_for(database, library)
    dashed = "-8KKo4xz92J"
    with database.unit_of_work() as session:
        session.execute(update(Track).where(Track.relpath == "video/h264_aac.mp4")
                        .values(video_id=dashed))  # fmt: skip
    done = runner.invoke(app, ["rescan", dashed, "--json"], env=env)
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["video_id"] == dashed
    for args in (["problems", "release", dashed, "--json"], ["problems", "retry", dashed]):
        answer = runner.invoke(app, args, env=env)
        assert "No such option" not in answer.output, args
        assert answer.exit_code in (0, USAGE), answer.output  # released: not quarantined
    unknown = runner.invoke(app, ["rescan", "-AAAAAAAAAA", "--json"], env=env)
    assert unknown.exit_code == NOT_FOUND
    assert json.loads(unknown.stdout)["error"] == "track not found"


@pytest.mark.parametrize(
    ("target", "code", "error_class"),
    [("broken/random.mp4", FAILED, "corrupt"), ("AAAAAAAAAAA", NOT_FOUND, None),
     ("bad id", USAGE, None), ("gone", NOT_FOUND, None)],
)  # fmt: skip
def test_rescan_json_prints_one_object_on_every_outcome(
    database: Database, library: Path, probe_pool: ProbePool, target: str, code: int,
    error_class: str | None,
) -> None:  # fmt: skip
    index_library(database, library, probe_pool)
    video_id = target
    if "/" in target:
        video_id = video_id_of(database, target)
    elif target == "gone":
        video_id = video_id_of(database, "video/h264_aac.mp4")
        os.remove(library / "video/h264_aac.mp4")
    result = runner.invoke(app, ["rescan", video_id, "--json"], env=env_for(database, library))
    assert result.exit_code == code
    payload = json.loads(result.stdout)
    assert payload["status"] == "error"
    assert payload["video_id"] == video_id
    assert payload["error"]
    assert payload.get("error_class") == error_class


def test_serve_refuses_public_bind_without_token(tmp_path: Path) -> None:
    env = {"MEDIASHELF_DATA_DIR": str(tmp_path), "MEDIASHELF_API_TOKEN": ""}
    result = runner.invoke(app, ["serve", "--host", "0.0.0.0"], env=env)
    assert result.exit_code == USAGE
    assert "MEDIASHELF_API_TOKEN" in result.output


def test_serve_on_a_port_in_use_says_so_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {"MEDIASHELF_DATA_DIR": str(tmp_path), "MEDIASHELF_PORT": str(port)}
        result = runner.invoke(app, ["serve", "--no-scan"], env=env)
    assert result.exit_code == USAGE
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(" ".join(lines).split("error:")) == 2, lines  # one error, no server log
    assert f"127.0.0.1:{port}" in result.output
    assert "in use" in result.output
    assert not (tmp_path / "mediashelf.db").exists()  # refused before opening the database


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _get_json(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=5) as response:
        data: dict[str, object] = json.loads(response.read())
        return data


@pytest.mark.timeout(120)
def test_serve_indexes_a_demo_library_and_answers(tmp_path: Path) -> None:
    """What `make run` does: a demo library, served, discovered and probed in the background."""
    library = tmp_path / "demo"
    assert runner.invoke(app, ["demo", str(library), "--count", "20"]).exit_code == 0
    port = _free_port()
    env = {**os.environ, "MEDIASHELF_DATA_DIR": str(tmp_path / "data")}
    env.pop("MEDIASHELF_DATABASE_URL", None)
    cmd = [sys.executable, "-m", "mediashelf.cli", "serve", "--library", str(library)]
    proc = subprocess.Popen(
        [*cmd, "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        body: dict[str, object] = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                body = _get_json(f"http://127.0.0.1:{port}/api/tracks?probe_status=ok")
            except OSError:
                body = {}
            if body.get("total") == 20:
                break
            time.sleep(0.3)
        assert body.get("total") == 20, body
        assert _get_json(f"http://127.0.0.1:{port}/healthz")["status"] == "ok"
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=30)
    # uvicorn shuts down gracefully, then re-raises the signal it caught.
    assert proc.returncode in {0, -signal.SIGTERM}, stderr.decode()
    assert b"Application shutdown complete" in stderr
    assert b"Library scan completed" in stderr


def test_scan_runs_in_process_when_no_worker_is_alive(
    database: Database, library: Path, probe_pool: ProbePool
) -> None:
    env = {**env_for(database, library), "MEDIASHELF_PROBE_PROCESSES": "2"}
    result = runner.invoke(app, ["scan", "--json", "--batch-size", "7"], env=env)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["status"] == "completed"
    assert payload["progress"]["added"] == 18
    assert payload["progress"]["failed"] == 4
    assert payload["summary"].startswith("Library scan completed")

    dry = runner.invoke(app, ["scan", "--dry-run"], env=env)
    assert dry.exit_code == 0
    assert "dry run" in dry.stdout


def test_scan_runs_here_when_the_live_workers_never_start_it(
    database: Database, library: Path, probe_pool: ProbePool
) -> None:
    """A live worker that does not run library scans (a service without a library)."""
    now = datetime.now(UTC)
    with database.unit_of_work() as session:
        JobStore(session).register_worker(
            WorkerRow(
                id="elsewhere:1:abc",
                host="elsewhere",
                pid=1,
                started_at=now,
                heartbeat_at=now,
                concurrency=1,
                version="test",
            )
        )
    env = {**env_for(database, library), "MEDIASHELF_POLL_S": "0.1"}
    result = runner.invoke(app, ["scan", "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == "completed"
    assert "No running worker started job" in result.stderr


def test_scan_takes_over_a_job_whose_worker_died_while_it_followed(
    database: Database, library: Path, probe_pool: ProbePool
) -> None:
    """The scan joins the active job of a worker killed a moment ago (still looking alive).

    It used to follow that job forever: no live worker was checked again. Once the lease
    runs out it starts a worker here, whose reaper rescues the job, which then completes.
    """
    from mediashelf.jobs.service import request_job
    from mediashelf.library.tasks import build_registry

    env = {**env_for(database, library), "MEDIASHELF_HEARTBEAT_S": "0.5",
           "MEDIASHELF_LEASE_S": "1.5", "MEDIASHELF_POLL_S": "0.1"}  # fmt: skip
    settings = Settings(library=library, database_url=database.url)
    with database.unit_of_work() as session:
        registry = build_registry(settings, lambda: probe_pool)
        job_id = request_job(session, registry, SystemClock(), "library_scan", {},
                             trigger="test", actor="test").job_id  # fmt: skip
        now = datetime.now(UTC)
        store = JobStore(session)
        killed = WorkerRow(id="killed:1:abc", host="killed", pid=1, started_at=now,
                           heartbeat_at=now, concurrency=1, version="test")  # fmt: skip
        store.register_worker(killed)
        [claimed] = store.claim(killed.id, 1, now, ["library_scan"])
        assert claimed.id == job_id  # running, held by a worker that will never beat again
    result = runner.invoke(app, ["scan", "--json"], env=env)
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert (body["id"], body["status"], body["joined"]) == (job_id, "completed", True)
    assert body["attempt"] == 2  # rescued, then run here
    with database.unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(Track))


def test_scan_of_an_offline_root_exits_non_zero(
    database: Database, library: Path, probe_pool: ProbePool
) -> None:
    index_library(database, library, probe_pool)
    shutil.rmtree(library)
    result = runner.invoke(app, ["scan"], env=env_for(database, library))
    assert result.exit_code == FAILED
    assert "library stayed unavailable" in result.stdout
    assert "nothing was marked missing" in result.stdout


def test_scan_of_a_mistyped_root_fails_at_once(database: Database, tmp_path: Path) -> None:
    env = {**env_for(database, tmp_path / "Musci"), "MEDIASHELF_LIBRARY_WAIT_S": "600"}
    result = runner.invoke(app, ["scan"], env=env)
    assert result.exit_code == FAILED
    assert "does not exist" in result.stdout
    assert "nothing to wait for" in result.stdout


def test_cancelling_a_running_job_with_no_worker_alive_says_what_it_waits_for(
    database: Database, library: Path
) -> None:
    """The only `serve` was killed mid-scan: the job stays running until a worker starts."""
    env = env_for(database, library)
    queued = runner.invoke(app, ["scan", "--no-wait", "--json"], env=env)
    job_id = json.loads(queued.stdout)["job_id"]
    with database.unit_of_work() as session:  # claimed by a worker that then died
        [job] = JobStore(session).claim("dead-worker", 1, datetime.now(UTC), ["library_scan"])
    assert job.id == job_id
    cancelled = runner.invoke(app, ["jobs", "cancel", str(job_id)], env=env)
    assert cancelled.exit_code == 0, cancelled.output
    assert f"job {job_id}: cancel requested" in cancelled.stdout
    assert "No worker is running to stop it" in cancelled.stderr


def test_jobs_commands(database: Database, library: Path) -> None:
    env = env_for(database, library)
    queued = runner.invoke(app, ["scan", "--no-wait", "--json"], env=env)
    assert queued.exit_code == 0, queued.output
    job_id = json.loads(queued.stdout)["job_id"]

    listed = json.loads(runner.invoke(app, ["jobs", "list", "--json"], env=env).stdout)
    assert [(j["id"], j["status"]) for j in listed["jobs"]] == [(job_id, "pending")]
    shown = json.loads(runner.invoke(app, ["jobs", "show", str(job_id), "--json"], env=env).stdout)
    assert shown["kind"] == "library_scan"
    cancelled = runner.invoke(app, ["jobs", "cancel", str(job_id)], env=env)
    assert "cancelled" in cancelled.stdout
    again = runner.invoke(app, ["jobs", "cancel", str(job_id)], env=env)
    assert again.exit_code == USAGE  # an invalid request, not a failed job
    assert "only pending or running jobs cancel" in again.output
    retried = runner.invoke(app, ["jobs", "retry", str(job_id)], env=env)
    assert "pending" in retried.stdout
    assert runner.invoke(app, ["jobs", "retry", str(job_id)], env=env).exit_code == USAGE
    logs = runner.invoke(app, ["jobs", "logs", str(job_id)], env=env)
    assert "created by cli" in logs.stdout
    assert "retry requested by cli" in logs.stdout
    assert runner.invoke(app, ["jobs", "show", "9999"], env=env).exit_code == NOT_FOUND
    missing = runner.invoke(app, ["jobs", "show", "9999", "--json"], env=env)
    assert missing.exit_code == NOT_FOUND
    body = json.loads(missing.stdout)
    assert (body["status"], body["job_id"]) == ("error", 9999)
    assert "not found" in body["error"]
    unreachable = {**env, "MEDIASHELF_DATABASE_URL": "postgresql://u:p@127.0.0.1:1/db"}
    for args in (["jobs", "list", "--json"], ["jobs", "show", "1", "--json"]):
        failed = runner.invoke(app, args, env=unreachable)
        assert failed.exit_code != 0
        assert json.loads(failed.stdout)["status"] == "error", args


@pytest.mark.parametrize(
    "args",
    [["jobs", "show", "99999999999999999999"], ["jobs", "logs", "9223372036854775808"],
     ["jobs", "cancel", "99999999999999999999"], ["jobs", "retry", "99999999999999999999"],
     ["jobs", "show", "0"], ["jobs", "list", "--status", "bogus"],
     ["jobs", "logs", "1", "--stream", "bogus"], ["problems", "--offset", "99999999999999999999"]],
)  # fmt: skip
def test_out_of_range_ids_and_unknown_choices_are_usage_errors(
    database: Database, library: Path, args: list[str]
) -> None:
    result = runner.invoke(app, args, env=env_for(database, library))
    assert result.exit_code == USAGE, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "says"),
    [(["jobs", "show", "abc", "--json"], "'abc' is not a valid"),
     (["jobs", "list", "--json", "--limit", "x"], "'x' is not a valid"),
     (["jobs", "list", "--json", "--status", "bogus"], "'bogus' is not one of"),
     (["scan", "--json", "--bogus"], "No such option: --bogus"),
     (["scan", "--json", "--path"], "requires an argument"),
     (["problems", "--json", "--offset", "-1"], "-1"),
     (["rescan", "--json"], "Missing argument"),
     (["--json"], "No such option: --json"),
     (["nosuchcommand", "--json"], "No such command")],
)  # fmt: skip
def test_a_usage_error_under_json_is_one_json_object_too(
    database: Database, library: Path, args: list[str], says: str
) -> None:
    """DESIGN §9: `--json` prints one JSON object on failure too, bad usage included."""
    result = runner.invoke(app, args, env=env_for(database, library))
    assert result.exit_code == USAGE, result.output
    body = json.loads(result.stdout)
    assert body["status"] == "error"
    assert says in body["error"]
    assert body.get("usage", "Usage: ").startswith("Usage: ")
    assert "Traceback" not in result.output


def test_a_usage_error_without_json_prints_no_json(database: Database, library: Path) -> None:
    result = runner.invoke(app, ["jobs", "show", "abc"], env=env_for(database, library))
    assert result.exit_code == USAGE
    assert result.stdout == ""
    assert "'abc' is not a valid" in result.stderr


@pytest.mark.parametrize(
    ("url", "code", "says"),
    [("postgresql://someone:s3cret@127.0.0.1:1/nowhere", FAILED, "database unreachable"),
     ("bogus://x", USAGE, "MEDIASHELF_DATABASE_URL"),
     ("not-a-database", FAILED, "cannot be used")],
)  # fmt: skip
@pytest.mark.parametrize("args", [["jobs", "list"], ["scan", "--json"], ["scan"], ["db", "upgrade"],
                                  ["db", "check"], ["rescan", "aaaaaaaaaaa"],
                                  ["serve", "--no-scan"]])  # fmt: skip
def test_an_unusable_database_is_one_line_not_a_traceback(
    tmp_path: Path, url: str, code: int, says: str, args: list[str]
) -> None:
    if url == "not-a-database":
        junk = tmp_path / "junk.db"
        junk.write_bytes(b"this is not a database" * 200)
        url = f"sqlite:///{junk}"
    env = {"MEDIASHELF_DATABASE_URL": url, "MEDIASHELF_LIBRARY": str(tmp_path)}
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert says in result.output
    for internal in ("s3cret", "127.0.0.1", "Traceback", "sqlalche.me", "psycopg"):
        assert internal not in result.output
    if "--json" in args:
        assert json.loads(result.stdout)["status"] == "error"
    else:
        assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "args",
    [["jobs", "list", "--json"], ["jobs", "show", "1", "--json"], ["jobs", "logs", "1"],
     ["jobs", "cancel", "1"], ["jobs", "retry", "1"], ["problems", "--json"],
     ["problems", "retry", "abc", "--json"], ["problems", "release", "abc", "--json"],
     ["rescan", "abc", "--json"], ["verify", "--json"]],
)  # fmt: skip
def test_commands_on_what_is_indexed_never_create_a_database(
    tmp_path: Path, args: list[str]
) -> None:
    """A mistyped SQLite URL must not answer "no jobs" or "0 problems" from a new empty file."""
    missing = tmp_path / "typo" / "mediashel.sqlite"
    env = {"MEDIASHELF_DATABASE_URL": f"sqlite:///{missing}", "MEDIASHELF_LIBRARY": str(tmp_path)}
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == FAILED, result.output
    assert f"No database at {missing}" in result.output
    if "--json" in args:
        assert json.loads(result.stdout)["status"] == "error"
    assert not (tmp_path / "typo").exists()
    created = runner.invoke(app, ["db", "upgrade"], env=env)  # commands that create still do
    assert created.exit_code == 0, created.output
    listed = runner.invoke(app, ["jobs", "list", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.stdout)["total"] == 0


@pytest.mark.parametrize("args", [["jobs", "list"], ["serve", "--no-scan"]])
def test_a_data_folder_that_is_a_file_is_one_line(tmp_path: Path, args: list[str]) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("a file, not a folder")
    env = {"MEDIASHELF_DATA_DIR": str(blocker), "MEDIASHELF_LIBRARY": str(tmp_path)}
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == USAGE, result.output
    assert result.output.startswith("error: Cannot use the data folder:")


def test_doctor_names_an_unknown_database_dialect(tmp_path: Path) -> None:
    env = {"MEDIASHELF_DATABASE_URL": "bogus://x", "MEDIASHELF_LIBRARY": str(tmp_path),
           "MEDIASHELF_DATA_DIR": str(tmp_path)}  # fmt: skip
    result = runner.invoke(app, ["doctor"], env=env)
    assert result.exit_code == FAILED, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "bogus:// is not supported" in result.output  # named as a setting, before any use


def test_library_jobs_without_a_library_name_the_setting(database: Database) -> None:
    env: dict[str, str | None] = {"MEDIASHELF_DATABASE_URL": database.url,
                                  "MEDIASHELF_LIBRARY": None}  # fmt: skip
    for args in (["scan", "--no-wait"], ["verify", "--no-wait"]):
        result = runner.invoke(app, args, env=env)
        assert result.exit_code == USAGE, result.output
        assert "set MEDIASHELF_LIBRARY" in result.output


@pytest.mark.parametrize("args", [["scan", "--no-wait"], ["serve", "--port"]])
def test_a_job_module_without_register_is_a_setting_error(
    database: Database, library: Path, args: list[str]
) -> None:
    """`serve` met it inside the app's start: uvicorn's traceback and exit 3."""
    env = {**env_for(database, library), "MEDIASHELF_JOB_MODULES": "json"}
    if args[-1] == "--port":
        args = [*args, str(_free_port())]
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == USAGE, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "job module 'json' defines no register(registry, settings)" in result.output


def test_scan_can_go_past_the_brake_it_names(
    database: Database, library: Path, probe_pool: ProbePool
) -> None:
    index_library(database, library, probe_pool)
    for folder in [p for p in library.iterdir() if p.is_dir()][1:]:
        shutil.rmtree(folder)  # most of the library is gone for good
    env = env_for(database, library)
    braked = runner.invoke(app, ["scan"], env=env)
    assert braked.exit_code == FAILED, braked.output
    assert "allow_mass_missing" in braked.stdout
    allowed = runner.invoke(app, ["scan", "--allow-mass-missing", "--json"], env=env)
    assert allowed.exit_code == 0, allowed.output
    job = json.loads(allowed.stdout)
    assert job["params"]["allow_mass_missing"] is True
    assert job["progress"]["missing"] > 0


def test_file_names_print_as_they_are(database: Database, library: Path) -> None:
    """A name that looks like markup or holds terminal escapes is data, never instructions."""
    (library / "bad [").mkdir()
    (library / "bad [/x] name.flac").write_bytes(b"\x01" * 3000)  # markup rich would reject
    (library / "esc\x1b[31mred.flac").write_bytes(b"\x02" * 3000)
    env = env_for(database, library)
    scanned = runner.invoke(app, ["scan"], env=env)
    assert scanned.exit_code == 0, scanned.output
    listed = runner.invoke(app, ["problems", "--class", "corrupt"], env=env)
    assert listed.exit_code == 0, listed.output
    shown = runner.invoke(app, ["jobs", "show", "1"], env=env)
    assert shown.exit_code == 0, shown.output
    for result in (scanned, shown):
        assert "bad [/x] name.flac" in result.output
        assert "esc\\x1b[31mred.flac" in result.output
    assert "\\x1b[31mred" in listed.output  # the table wraps long names
    for result in (scanned, listed, shown):
        assert "\x1b" not in result.output
    bad_path = runner.invoke(app, ["scan", "--path", "[/x]"], env=env)
    assert bad_path.exit_code == USAGE
    assert "there is no folder '[/x]'" in bad_path.output


def test_list_options_before_a_problems_subcommand_apply_to_it_or_are_refused(
    database: Database, library: Path
) -> None:
    """`problems --json retry ID` printed text, and `problems --class corrupt retry` refused
    for want of a class: options given before the sub-command were accepted and ignored."""
    (library / "broken.flac").write_bytes(b"\x01" * 3000)
    env = env_for(database, library)
    assert runner.invoke(app, ["scan"], env=env).exit_code == 0
    retried = runner.invoke(app, ["problems", "--json", "--class", "corrupt", "retry"], env=env)
    assert retried.exit_code == 0, retried.output
    assert json.loads(retried.stdout)["job_id"] > 1
    unknown = runner.invoke(app, ["problems", "--json", "release", "AAAAAAAAAAA"], env=env)
    assert unknown.exit_code == NOT_FOUND
    assert json.loads(unknown.stdout)["error"] == "track not found"
    for args, flag in ((["problems", "--limit", "5", "retry", "AAAAAAAAAAA"], "--limit"),
                       (["problems", "--class", "corrupt", "release", "AAAAAAAAAAA"], "--class"),
                       (["problems", "--json", "--offset", "1", "retry"], "--offset")):  # fmt: skip
        refused = runner.invoke(app, args, env=env)
        assert refused.exit_code == USAGE, (args, refused.output)
        assert f"{flag} only applies to the problem list" in refused.output
    refused_json = json.loads(refused.stdout)
    assert refused_json["status"] == "error"
    assert "--offset" in refused_json["error"]


def test_piped_output_keeps_each_line_whole(database: Database, library: Path) -> None:
    """Piped, the console is 80 wide: summaries and progress lines broke mid-field there."""
    from tests.library.test_scan import PROGRESS

    env = env_for(database, library)
    scanned = runner.invoke(app, ["scan"], env=env)
    summary = scanned.stdout.splitlines()[0]
    assert len(summary) > 80
    assert re.fullmatch(r"Library scan completed in .* \d+ failed", summary), scanned.stdout
    logs = runner.invoke(app, ["jobs", "logs", "1", "--stream", "progress"], env=env)
    lines = logs.stdout.splitlines()
    assert lines
    for line in lines:
        assert PROGRESS.match(line.split(" progress ", 1)[1]), line


def test_jobs_logs_json_is_the_apis_shape(database: Database, library: Path) -> None:
    env = env_for(database, library)
    assert runner.invoke(app, ["scan"], env=env).exit_code == 0
    shown = runner.invoke(app, ["jobs", "logs", "1", "--json"], env=env)
    assert shown.exit_code == 0, shown.output
    body = json.loads(shown.stdout)
    assert {line["stream"] for line in body["lines"]} == {"job", "progress"}
    assert set(body["lines"][0]) == {"id", "ts", "stream", "level", "message"}
    assert body["next_after"] == body["lines"][-1]["id"]
    followed = runner.invoke(app, ["jobs", "logs", "1", "--json", "--follow", "--stream",
                                   "progress"], env=env)  # fmt: skip
    rows = [json.loads(line) for line in followed.stdout.splitlines()]
    assert [r["message"] for r in rows] == [
        line["message"] for line in body["lines"] if line["stream"] == "progress"
    ]
    missing = runner.invoke(app, ["jobs", "logs", "999", "--json"], env=env)
    assert missing.exit_code == NOT_FOUND
    assert json.loads(missing.stdout)["error"] == "job not found"
