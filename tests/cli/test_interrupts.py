"""Ctrl-C in `mediashelf scan`: before the job exists, before it is followed, and twice.

The interrupt is raised where it would land (a patched step raises KeyboardInterrupt), so
each moment is hit every time; `--json` must still print exactly one object.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from mediashelf.cli.exits import FAILED, INTERRUPTED
from mediashelf.cli.main import app
from mediashelf.db.schema import Job
from mediashelf.db.session import Database
from mediashelf.jobs import service
from tests.cli.test_cli import env_for
from tests.polling import wait_until

runner = CliRunner()


def ctrl_c(*_: Any, **__: Any) -> Any:
    """Stand in for a step the user interrupts."""
    raise KeyboardInterrupt


def jobs_in(database: Database) -> list[Job]:
    """Return every job row."""
    with database.unit_of_work() as session:
        return list(session.scalars(select(Job)))


@pytest.mark.parametrize("as_json", [True, False])
def test_ctrl_c_before_the_job_exists_queues_nothing_and_says_so(
    database: Database, library: Path, monkeypatch: pytest.MonkeyPatch, as_json: bool
) -> None:
    monkeypatch.setattr(service, "request_job", ctrl_c)
    args = ["scan", "--json"] if as_json else ["scan"]
    result = runner.invoke(app, args, env=env_for(database, library))
    assert result.exit_code == INTERRUPTED, result.output
    assert jobs_in(database) == []
    if as_json:
        body = json.loads(result.stdout)
        assert body["status"] == "interrupted"
        assert body["job_id"] is None
        assert "nothing was queued" in body["error"]
    else:
        assert "nothing was queued" in result.stderr
        assert "Traceback" not in result.output


def test_ctrl_c_before_the_job_is_followed_cancels_it(
    database: Database, library: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Waiting to see whether a live worker claims the job is part of following it: Ctrl-C
    # there cancels the job (pending: at once) instead of leaving it queued.
    from mediashelf.cli import follow

    monkeypatch.setattr(follow, "workers_alive", ctrl_c)
    result = runner.invoke(app, ["scan", "--json"], env=env_for(database, library))
    assert result.exit_code == FAILED, result.output
    body = json.loads(result.stdout)
    assert body["status"] == "cancelled"
    [job] = jobs_in(database)
    assert (job.id, job.status) == (body["id"], "cancelled")


def test_a_second_ctrl_c_stops_following_and_names_the_job(
    database: Database, library: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mediashelf.cli import follow

    monkeypatch.setattr(follow, "workers_alive", ctrl_c)
    monkeypatch.setattr(follow, "follow_job", ctrl_c)
    result = runner.invoke(app, ["scan", "--json"], env=env_for(database, library))
    assert result.exit_code == INTERRUPTED, result.output
    body = json.loads(result.stdout)
    [job] = jobs_in(database)
    assert body["status"] == "interrupted"
    assert body["job_id"] == job.id
    assert f"mediashelf jobs show {job.id}" in body["error"]
    assert job.status == "cancelled"  # the first Ctrl-C's cancel stands


def test_sigterm_while_following_cancels_the_job_and_prints_one_object(
    database: Database, library: Path, tmp_path: Path
) -> None:
    """What `timeout`, systemd and `docker stop` send: the Ctrl-C path, for real."""
    env = {**os.environ, **env_for(database, library), "MEDIASHELF_PROBE_PROCESSES": "1"}
    command = [sys.executable, "-m", "mediashelf.cli", "scan", "--json", "--batch-size", "1",
               "--throttle-ms", "400"]  # fmt: skip
    scan = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: [j.status for j in jobs_in(database)] == ["running"], "scan running")
        scan.send_signal(signal.SIGTERM)
        stdout, stderr = scan.communicate(timeout=60)
    finally:
        scan.kill()
    assert scan.returncode == FAILED, stderr
    body = json.loads(stdout)  # exactly one object
    [job] = jobs_in(database)
    assert (body["id"], body["status"]) == (job.id, "cancelled")
    assert job.status == "cancelled"  # not left running for a reaper


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_landing_as_the_job_is_committed_cancels_it(
    database: Database, library: Path, monkeypatch: pytest.MonkeyPatch, signum: int
) -> None:
    """The signal arrives right after the job's row is committed, before the command holds
    its id: the job was left pending and never cancelled (exit 130, and every later scan
    refused for it), or the broken session said "database cannot be used"."""
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    requested: list[int] = []
    real_request = service.request_job

    def request_then_arm(*args: Any, **kwargs: Any) -> Any:
        request = real_request(*args, **kwargs)
        requested.append(request.job_id)
        return request

    def signal_after_commit(_session: Session) -> None:
        if len(requested) == 1:
            requested.append(-1)  # once
            os.kill(os.getpid(), signum)

    monkeypatch.setattr(service, "request_job", request_then_arm)
    event.listen(Session, "after_commit", signal_after_commit)
    try:
        result = runner.invoke(app, ["scan", "--json"], env=env_for(database, library))
    finally:
        event.remove(Session, "after_commit", signal_after_commit)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the command's handler, not pytest's
    assert result.exit_code == FAILED, result.output
    body = json.loads(result.stdout)
    [job] = jobs_in(database)
    assert (body["id"], body["status"]) == (job.id, "cancelled")
    assert job.status == "cancelled"


def test_sigterm_to_a_scan_that_joined_another_stops_following_and_cancels_nothing(
    database: Database, library: Path
) -> None:
    """A second `scan` joins the first one's job; stopping it must leave that job running.

    It cancelled the shared job: the first command (or a page's, or the scheduler's scan)
    ended "cancelled" because someone closed another terminal.
    """
    env = {**os.environ, **env_for(database, library), "MEDIASHELF_PROBE_PROCESSES": "1"}
    command = [sys.executable, "-m", "mediashelf.cli", "scan", "--json", "--batch-size", "1",
               "--throttle-ms", "400"]  # fmt: skip
    first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    second: subprocess.Popen[bytes] | None = None
    try:
        wait_until(lambda: [j.status for j in jobs_in(database)] == ["running"], "scan running")
        second = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        said: list[bytes] = []
        stream = second.stderr
        assert stream is not None
        reader = threading.Thread(target=lambda: said.extend(iter(stream.readline, b"")))
        reader.start()
        wait_until(lambda: any(b"already active" in line for line in said), "second joined")
        second.send_signal(signal.SIGTERM)
        stdout, _ = second.communicate(timeout=60)
        reader.join(timeout=10)
        assert second.returncode == INTERRUPTED, said
        body = json.loads(stdout)  # exactly one object
        [job] = jobs_in(database)
        assert (body["status"], body["job_id"]) == ("interrupted", job.id)
        assert "not cancelled" in body["error"]
        assert (job.status, job.cancel_requested_at) == ("running", None)
        assert first.poll() is None  # the first command still follows its job
    finally:
        for process in (first, second):
            if process is not None:
                process.kill()
                process.communicate()
