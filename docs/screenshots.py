"""Take the README's screenshots from a generated demo library (`make screenshots`).

Serves a fresh demo library on a free port, scans it, starts a slow forced scan so the jobs
page has something running, and photographs the pages in Debian's Chromium.
"""

from __future__ import annotations

import argparse
import socket
import tempfile
import threading
import time
from pathlib import Path

import uvicorn
from playwright.sync_api import Page, sync_playwright

from mediashelf.config import Settings
from mediashelf.db.schema import Track
from mediashelf.db.session import Database
from mediashelf.demo_library import write_demo_library
from mediashelf.jobs.service import create_job, get_job
from mediashelf.runtime import Runtime
from mediashelf.web.app import create_app

OUT = Path(__file__).with_name("screenshots")
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def free_port() -> int:
    """Return a free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start(runtime: Runtime, port: int) -> uvicorn.Server:
    """Serve the app with one embedded worker in a thread."""
    config = uvicorn.Config(create_app(runtime, workers=1), port=port, log_level="warning")
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server


def enqueue(runtime: Runtime, params: dict[str, object]) -> int:
    """Queue a library scan and return its id."""
    with runtime.db.unit_of_work() as session:
        job = create_job(session, runtime.registry, runtime.clock, kind="library_scan",
                         params=params, trigger="ui", actor="ui")  # fmt: skip
        return job.id


def wait_until(runtime: Runtime, job_id: int, done: bool) -> None:
    """Wait until the job has finished (`done`) or has made some progress."""
    while True:
        with runtime.db.unit_of_work() as session:
            job = get_job(session, job_id)
        if (done and job.finished_at) or (not done and job.progress.get("processed", 0) > 40):
            return
        time.sleep(0.2)


def shoot(page: Page, url: str, name: str) -> None:
    """Open `url` and save a screenshot as `name`.png."""
    page.goto(url)
    page.wait_for_timeout(600)
    page.screenshot(path=str(OUT / f"{name}.png"))


def main() -> None:
    """Build the demo, run it and take the screenshots."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clips", type=int, default=240)
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        library = Path(tmp) / "library"
        write_demo_library(library, args.clips)
        settings = Settings(library=library, data_dir=Path(tmp), heartbeat_s=1, lease_s=5,
                            poll_s=0.1)  # fmt: skip
        runtime = Runtime(settings, Database(settings.effective_database_url))
        port = free_port()
        server = start(runtime, port)
        base = f"http://127.0.0.1:{port}"
        wait_until(runtime, enqueue(runtime, {}), done=True)
        with runtime.db.unit_of_work() as session:
            video = session.query(Track).filter(Track.width.is_not(None)).first()
            assert video is not None
            video_id = video.video_id
        running = enqueue(runtime, {"force": True, "batch_size": 4, "throttle_ms": 500})
        wait_until(runtime, running, done=False)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            shoot(page, f"{base}/tracks?sort=bitrate&order=desc", "tracks")
            shoot(page, f"{base}/track/{video_id}", "track")
            shoot(page, f"{base}/jobs", "jobs")
            page.locator(f"[data-action=logs][data-job-id='{running}']").click()
            page.wait_for_timeout(5500)
            page.screenshot(path=str(OUT / "job-modal.png"))
            browser.close()
        server.should_exit = True
        runtime.close()


if __name__ == "__main__":
    main()
