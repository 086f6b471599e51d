"""SQLite engines: a fresh database opened by several connections at once."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import text

from mediashelf.db.engine import make_engine


def test_connections_racing_to_open_a_fresh_database_all_get_wal(tmp_path: Path) -> None:
    # The first connections to a new file each switch it to WAL; SQLite answers the loser
    # of that race "database is locked" at once, without its busy timeout (seen: a service
    # and a worker started together, two `db upgrade` at once). Every one must get in.
    failures: list[BaseException] = []
    modes: list[str] = []
    for round_ in range(40):
        url = f"sqlite:///{tmp_path / f'fresh{round_}.db'}"
        start = threading.Barrier(4)

        def open_it(url: str = url, start: threading.Barrier = start) -> None:
            engine = make_engine(url)
            try:
                start.wait()
                with engine.connect() as conn:
                    modes.append(conn.execute(text("PRAGMA journal_mode")).scalar_one())
            except BaseException as exc:  # collected: the assertion below names them
                failures.append(exc)
            finally:
                engine.dispose()

        threads = [threading.Thread(target=open_it) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert failures == []
    assert len(modes) == 160
    assert set(modes) == {"wal"}
