"""`mediashelf worker --watch` as a real process: start-up scan, then events, then a clean stop."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

from mediashelf.db.migrate import upgrade
from mediashelf.db.schema import Job, Track
from mediashelf.db.session import Database
from tests.conftest import Corpus


def _until(what: str, check: Callable[[], object], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_worker_watch_scans_what_changes(corpus: Corpus, tmp_path: Path) -> None:
    library = tmp_path / "library"
    (library / "Album").mkdir(parents=True)
    shutil.copy(corpus.root / "audio/plain.mp3", library / "Album/01.mp3")
    db = Database(f"sqlite:///{tmp_path / 'watch.db'}")
    upgrade(db)

    def relpaths() -> set[str]:
        with db.unit_of_work() as session:
            return set(session.scalars(select(Track.relpath)))

    env = {**os.environ, "MEDIASHELF_DATABASE_URL": db.url, "MEDIASHELF_LIBRARY": str(library),
           "MEDIASHELF_WATCH_QUIET_S": "0.5", "MEDIASHELF_PROBE_PROCESSES": "1"}  # fmt: skip
    command = [sys.executable, "-m", "mediashelf.cli", "worker", "--watch", "--concurrency", "1"]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _until("the start-up scan", lambda: relpaths() == {"Album/01.mp3"})
        (library / "Later").mkdir()
        shutil.copy(corpus.root / "audio/plain.mp3", library / "Later/02.mp3")
        _until("the watch scan", lambda: "Later/02.mp3" in relpaths())
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr.decode()[-2000:]
    assert b"watch: following file-system events" in stderr
    with db.unit_of_work() as session:
        jobs = list(session.scalars(select(Job).order_by(Job.id)))
    assert [(j.trigger, j.params.get("path")) for j in jobs] == [("cli", None), ("watch", "Later")]
    db.dispose()
