"""/healthz looks at the library root within a second, even when the root's mount hangs."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from mediashelf.library import library_state
from mediashelf.library.library_state import NOT_ANSWERING, RootCheck


def test_a_root_that_does_not_answer_is_reported_without_waiting_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hard NFS mount whose server went away blocks stat() for good: a health check that
    looked at the root itself would never answer, one stuck thread per request."""
    release = threading.Event()
    looks: list[Path] = []

    def hanging(root: Path, known: int) -> str | None:
        looks.append(root)
        release.wait(30)  # stat() on a dead mount
        return None

    monkeypatch.setattr(library_state, "library_problem", hanging)
    check = RootCheck(timeout_s=0.2)
    started = time.monotonic()
    assert check.look(tmp_path) == (NOT_ANSWERING, False)
    assert check.look(tmp_path) == (NOT_ANSWERING, False)  # the stuck look is not repeated
    assert len(looks) == 1
    assert time.monotonic() - started < 5
    release.set()  # the server is back
    done = check.look(tmp_path)  # the stuck look's own answer, once it has one
    assert done == (None, True)  # an empty folder
    monkeypatch.undo()
    (tmp_path / "song.flac").write_bytes(b"x")
    assert check.look(tmp_path) == (None, False)
    assert check.look(tmp_path / "nowhere")[0] == "The library root does not exist or is offline."
