"""The job bar: drawn before the runtime opens, erased when no job was ever shown."""

from __future__ import annotations

import io
import os
import pty
import sys
from pathlib import Path

from rich.console import Console

from mediashelf.cli.display import JobProgress
from mediashelf.db.session import Database
from tests.cli.test_cli import env_for

ERASE_LINE = "\x1b[2K"


def terminal() -> tuple[Console, io.StringIO]:
    """Return a console that believes it draws on a terminal, and what it wrote."""
    written = io.StringIO()
    return Console(file=written, force_terminal=True, width=100), written


def test_the_bar_says_starting_before_any_job_exists() -> None:
    console, written = terminal()
    with JobProgress(console) as bar:
        bar.show("pending", None)
    assert "starting" in written.getvalue().split("pending")[0]


def test_a_followed_job_leaves_its_last_state_on_the_terminal() -> None:
    console, written = terminal()
    with JobProgress(console) as bar:
        bar.show("completed", {"phase": "done", "total": 4, "processed": 4})
    tail = written.getvalue().rsplit("done", 1)[1]
    assert "4/4" in tail
    assert ERASE_LINE not in tail


def test_a_job_cancelled_mid_run_leaves_no_eta_on_its_bar() -> None:
    console, written = terminal()
    with JobProgress(console) as bar:
        bar.show("cancelled", {"phase": "apply", "total": 73, "processed": 34, "eta_s": 11})
    tail = written.getvalue().rsplit("apply", 1)[1]
    assert "34/73" in tail
    assert "11s" not in tail


def test_a_command_that_fails_before_its_job_leaves_no_bar() -> None:
    console, written = terminal()
    try:
        with JobProgress(console):
            console.print("error: the database is unavailable")
            raise RuntimeError("failed while opening the runtime")
    except RuntimeError:
        pass
    after = written.getvalue().rsplit("starting", 1)[1]
    assert ERASE_LINE in after  # the bar's line is cleared, the error above it stays
    assert "error: the database is unavailable" in written.getvalue()


def test_a_quiet_bar_draws_nothing() -> None:
    console, written = terminal()
    with JobProgress(console, quiet=True) as bar:
        bar.show("completed", {"phase": "done", "total": 1, "processed": 1})
    assert written.getvalue() == ""


def test_scan_on_a_terminal_draws_starting_first_then_the_job(
    database: Database, library: Path, tmp_path: Path
) -> None:
    # A real terminal (a pty): the first thing `mediashelf scan` draws is the `starting` bar,
    # before the runtime (and so the job) exists; the job's own phases follow on the same line.
    env = {**os.environ, **env_for(database, library), "COLUMNS": "100", "TERM": "xterm"}
    pid, fd = pty.fork()
    if pid == 0:  # the child: exec the CLI on the pty
        os.execve(sys.executable, [sys.executable, "-m", "mediashelf.cli", "scan"], env)
    chunks: list[bytes] = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the pty
            break
        if not chunk:
            break
        chunks.append(chunk)
    _, status = os.waitpid(pid, 0)
    shown = b"".join(chunks).decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, shown
    first_bar = shown.index("starting")
    assert first_bar < shown.index("Library scan completed")
    for phase in ("pending", "running", "done"):
        if phase in shown:
            assert shown.index(phase) > first_bar, phase
    assert "done" in shown


def test_what_a_job_waits_for_is_shown_as_it_is() -> None:
    # The note is data (a mount point, a file name): brackets are not markup and control
    # characters do not reach the terminal.
    console, written = terminal()
    note = "waiting for the library: [/x]\x1b[31m is not mounted"
    with JobProgress(console) as bar:
        bar.show("running", {"phase": "waiting", "note": note})
    shown = written.getvalue()
    assert "waiting for the library: [/x]\\x1b[31m is not mounted" in shown
    assert "\x1b[31m is not" not in shown


def test_a_failure_before_the_job_adds_nothing_to_a_log() -> None:
    # stderr redirected to a file: the error line stands alone (no empty line after it).
    written = io.StringIO()
    console = Console(file=written, force_terminal=False, width=100)
    try:
        with JobProgress(console):
            raise RuntimeError("failed while opening the runtime")
    except RuntimeError:
        pass
    assert written.getvalue() == ""


def test_an_ended_job_drops_what_it_waited_for() -> None:
    console, written = terminal()
    with JobProgress(console) as bar:
        bar.show("failed", {"phase": "waiting", "note": "waiting for the library: gone"})
    assert "waiting for the library" not in written.getvalue()


def test_progress_fields_are_never_read_as_markup() -> None:
    console, written = terminal()
    with JobProgress(console) as bar:
        bar.show("running", {"phase": "[/x]", "rate": "[bold]", "processed": 1, "total": 2})
    assert "[/x]" in written.getvalue()
    assert "[bold]" in written.getvalue()
