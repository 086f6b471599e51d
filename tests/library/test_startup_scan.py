"""The start-up scan looks at the whole library, even when the scan a stop interrupted is there."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import select, update

from mediashelf.db.schema import Job, Track
from mediashelf.db.session import Database
from mediashelf.jobs.service import create_job
from mediashelf.probe.pool import ProbePool
from tests.conftest import Corpus, make_runtime, scan
from tests.polling import wait_until

SONG = "audio/plain.mp3"


@pytest.fixture
def library(corpus: Corpus, tmp_path: Path) -> Path:
    """Eight albums of one song each (one deleted is under the mass-missing brake)."""
    root = tmp_path / "library"
    for album in ("Artist/Album", "Artist/Second", *(f"Other/{i}" for i in range(6))):
        (root / album).mkdir(parents=True)
        shutil.copy(corpus.root / SONG, root / album / "01 Song.mp3")
    return root


def _statuses(database: Database) -> dict[str, str]:
    with database.unit_of_work() as session:
        return {
            r.relpath: r.probe_status
            for r in session.execute(select(Track.relpath, Track.probe_status))
        }


@pytest.mark.parametrize("watch", [False, True], ids=["no-watch", "watch"])
def test_a_start_up_scan_that_joins_an_interrupted_scan_still_looks_at_everything(
    database: Database, library: Path, probe_pool: ProbePool, corpus: Corpus, watch: bool
) -> None:
    """`systemctl restart` during a long scan: the start-up scan joined the interrupted one,
    which resumed after its checkpoint. What changed before that point while the service was
    down stayed unseen for good: a deleted folder's tracks present, a new file not there."""
    runtime = make_runtime(database, library, probe_pool, watch=watch, watch_poll_s=3600)
    try:
        assert scan(runtime).status == "completed"
        assert runtime.worker is not None
        runtime.worker.stop()  # the service stops mid-scan: its scan is queued again...
        runtime.worker = None
        with database.unit_of_work() as session:
            interrupted = create_job(session, runtime.registry, runtime.clock,
                                     kind="library_scan", params={}, trigger="cli",
                                     actor="serve").id  # fmt: skip
            session.execute(update(Job).where(Job.id == interrupted)
                            .values(checkpoint={"after": "Artist/Second/01 Song.mp3"}))  # fmt: skip
        shutil.rmtree(library / "Artist/Album")  # ...and, while it is down, files change
        shutil.copy(corpus.root / SONG, library / "Artist/Second/00 While Down.mp3")
        assert runtime.enqueue_startup_scan() == interrupted  # the service starts again
        if watch:
            runtime.start_watch()
        runtime.start_worker()
        wait_until(lambda: _statuses(database).get("Artist/Second/00 While Down.mp3") == "ok",
                   "the file added before the checkpoint while nothing ran")  # fmt: skip
        wait_until(lambda: _statuses(database)["Artist/Album/01 Song.mp3"] == "missing",
                   "the deleted folder's track to go missing")  # fmt: skip
        assert _statuses(database)["Other/5/01 Song.mp3"] == "ok"
    finally:
        runtime.close()
