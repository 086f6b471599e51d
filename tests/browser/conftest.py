"""A live server over a scanned library, and a Chromium page that screenshots on failure."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import uvicorn

from mediashelf.db.migrate import upgrade
from mediashelf.db.session import Database
from mediashelf.demo_library import write_demo_library
from mediashelf.jobs.service import create_job
from mediashelf.probe.pool import ProbePool
from mediashelf.runtime import Runtime
from mediashelf.web.app import create_app
from tests.conftest import Corpus, make_runtime, missing_environment, scan

CHROMIUM = Path("/usr/bin/chromium")
# rebind.test resolves to this machine, as a DNS-rebinding attacker's name would.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--host-resolver-rules=MAP rebind.test 127.0.0.1"]  # fmt: skip
TOKEN = "browser-token-0123456789-abcdef"

try:
    from playwright.sync_api import Browser, Page, sync_playwright
except ImportError:  # pragma: no cover - reported by the fixture below
    sync_playwright = None  # type: ignore[assignment]


@dataclass
class Server:
    """A running app and what is behind it."""

    url: str
    runtime: Runtime
    library: Path

    @property
    def db(self) -> Database:
        """Return the server's database."""
        return self.runtime.db


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Remember each phase's report on the test item (for screenshots on failure)."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serving(
    corpus: Corpus, tmp_path: Path, pool: ProbePool, **settings: object
) -> Iterator[Server]:
    """Serve a scanned copy of the corpus plus 40 demo clips, with one embedded worker."""
    library = tmp_path / "library"
    shutil.copytree(corpus.root, library, ignore=shutil.ignore_patterns("big"))
    write_demo_library(library / "demo", 40)
    database = Database(f"sqlite:///{tmp_path / 'browser.db'}")
    upgrade(database)
    runtime = make_runtime(database, library, pool, poll_s=0.1, **settings)
    assert scan(runtime).status == "completed"
    assert runtime.worker is not None
    runtime.worker.stop()
    runtime.worker = None
    port = free_port()
    config = uvicorn.Config(create_app(runtime, workers=1), host="127.0.0.1", port=port,
                            log_level="warning", lifespan="on")  # fmt: skip
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert uv.started, "server did not start"
    try:
        yield Server(f"http://127.0.0.1:{port}", runtime, library)
    finally:
        uv.should_exit = True
        thread.join(timeout=20)


@pytest.fixture
def server(corpus: Corpus, tmp_path: Path, probe_pool: ProbePool) -> Iterator[Server]:
    """The app without a token (the default install on loopback)."""
    with serving(corpus, tmp_path, probe_pool) as running:
        yield running


@pytest.fixture
def protected_server(corpus: Corpus, tmp_path: Path, probe_pool: ProbePool) -> Iterator[Server]:
    """The app with API_TOKEN set."""
    with serving(corpus, tmp_path, probe_pool, api_token=TOKEN) as running:
        yield running


def parked_job(server: Server) -> int:
    """Queue a library scan that no worker will take yet (due tomorrow); return its id."""
    with server.db.unit_of_work() as session:
        job = create_job(session, server.runtime.registry, server.runtime.clock,
                         kind="library_scan", params={"force": True}, trigger="api",
                         actor="test")  # fmt: skip
        job.run_at = datetime.now(UTC) + timedelta(days=1)
        return job.id


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's Chromium driven by Playwright."""
    if sync_playwright is None:
        missing_environment("playwright is not installed")
    if not CHROMIUM.exists():
        missing_environment("chromium is not installed (Debian package chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Page]:
    """A fresh page; a failing test leaves a screenshot in its tmp_path."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    opened.on("dialog", lambda dialog: errors.append(f"unexpected dialog: {dialog.message}"))
    yield opened
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        shot = tmp_path / "failure.png"
        opened.screenshot(path=str(shot), full_page=True)
        print(f"screenshot of the failure: {shot}")
    context.close()
    assert errors == [], errors
