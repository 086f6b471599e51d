"""`mediashelf serve --watch` as a real process: a file copied into the library shows on /tracks."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import Corpus
from tests.polling import wait_until

pytestmark = pytest.mark.browser

QUIET_S = 1.0
TITLE = "Copied While Watching"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _get(url: str) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.loads(response.read())
    except OSError:
        return None


@pytest.fixture
def watching(corpus: Corpus, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A `serve --watch` process over a small library; yields its URL and the library."""
    library = tmp_path / "library"
    (library / "Album").mkdir(parents=True)
    for name in ("audio/plain.mp3", "audio/flac16_stereo.flac", "video/h264_aac.mp4"):
        shutil.copy(corpus.root / name, library / "Album" / Path(name).name)
    port = _free_port()
    env = {**os.environ, "MEDIASHELF_DATA_DIR": str(tmp_path / "data"),
           "MEDIASHELF_WATCH_QUIET_S": str(QUIET_S), "MEDIASHELF_PROBE_PROCESSES": "1"}  # fmt: skip
    env.pop("MEDIASHELF_DATABASE_URL", None)
    command = [sys.executable, "-m", "mediashelf.cli", "serve", "--watch", "--library",
               str(library), "--port", str(port)]  # fmt: skip
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: (
            (_get(f"{url}/healthz") or {}).get("watch", {}).get("mode") == "events"
            and (_get(f"{url}/api/tracks") or {}).get("total") == 3),
            "the start-up scan and the watcher", timeout_s=60)  # fmt: skip
        yield url, library
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=30)
    assert b"watch: following file-system events" in stderr, stderr.decode()[-2000:]


def test_a_copied_file_appears_on_the_tracks_page(
    page: Page, watching: tuple[str, Path], corpus: Corpus
) -> None:
    url, library = watching
    page.goto(f"{url}/tracks")
    assert page.get_by_text(TITLE).count() == 0
    (library / "New").mkdir()
    shutil.copy(corpus.root / "audio/plain.mp3", library / "New" / f"{TITLE}.mp3")
    deadline = time.monotonic() + QUIET_S + 10  # the quiet period plus a few seconds
    while page.get_by_text(TITLE).count() == 0 and time.monotonic() < deadline:
        page.wait_for_timeout(250)
        page.reload()
    expect(page.get_by_text(TITLE).first).to_be_visible(timeout=1)
    health = _get(f"{url}/healthz")
    assert health["watch"] == {"mode": "events", "reason": None}
