"""`mediashelf worker --watch` as a real process: start-up scan, then events, then a clean stop."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from mediashelf.db.migrate import upgrade
from mediashelf.db.schema import Job, Track
from mediashelf.db.session import Database
from tests.conftest import Corpus
from tests.polling import wait_until


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
        wait_until(lambda: relpaths() == {"Album/01.mp3"}, "the start-up scan", timeout_s=60)
        (library / "Later").mkdir()
        shutil.copy(corpus.root / "audio/plain.mp3", library / "Later/02.mp3")
        wait_until(lambda: "Later/02.mp3" in relpaths(), "the watch scan", timeout_s=60)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr.decode()[-2000:]
    assert b"watch: following file-system events" in stderr
    with db.unit_of_work() as session:
        jobs = list(session.scalars(select(Job).order_by(Job.id)))
    assert [(j.trigger, j.params.get("path")) for j in jobs] == [("cli", None), ("watch", "Later")]
    db.dispose()
