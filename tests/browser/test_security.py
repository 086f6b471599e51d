"""In Chromium: the pages' own actions work with and without a token; other sites are refused."""

from __future__ import annotations

import http.server
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from mediashelf.db.schema import AuditEvent, Job, Track
from tests.browser.conftest import TOKEN, Server, free_port, parked_job

pytestmark = pytest.mark.browser

VIDEO = "video/h264_aac.mp4"
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
}


def track(server: Server, relpath: str = VIDEO) -> Track:
    """Return a track row."""
    with server.db.unit_of_work() as session:
        row = session.scalar(select(Track).where(Track.relpath == relpath))
        assert row is not None
        return row


def video_id(server: Server, relpath: str = VIDEO) -> str:
    """Return the public id of a track."""
    return track(server, relpath).video_id


def job_status(server: Server, job_id: int) -> str:
    """Return a job's status."""
    with server.db.unit_of_work() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job.status


def rescans_of(server: Server, vid: str) -> int:
    """Return how many rescans the track's audit history holds."""
    with server.db.unit_of_work() as session:
        query = select(AuditEvent).where(AuditEvent.video_id == vid,
                                         AuditEvent.action == "track.rescan")  # fmt: skip
        return len(session.scalars(query).all())


@contextmanager
def other_site(root: Path, pages: dict[str, str], host: str = "localhost") -> Iterator[str]:
    """Serve `pages` (name -> HTML) from a second origin on another port; yield its URL."""
    root.mkdir()
    for name, html in pages.items():
        (root / name).write_text(html)
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def attack_pages(app: str, job_id: int, vid: str) -> dict[str, str]:
    """A page with a form and a page with a script, both posting to the app from elsewhere."""
    form = f"""<!doctype html><title>cute cats</title>
<form id="f" method="post" action="{app}/api/jobs/{job_id}/cancel"></form>
<script>document.getElementById("f").submit();</script>"""
    script = f"""<!doctype html><title>cute dogs</title><body>
<script>
const hits = [
  fetch("{app}/api/jobs/{job_id}/cancel", {{method: "POST", mode: "no-cors"}}),
  fetch("{app}/api/track/{vid}/rescan_media", {{method: "POST", mode: "no-cors",
        credentials: "include", body: "{{}}", headers: {{"content-type": "text/plain"}}}}),
  fetch("{app}/api/jobs", {{method: "POST", body: '{{"kind": "library_scan"}}',
        headers: {{"content-type": "application/json"}}}}),
];
Promise.allSettled(hits).then((r) => {{
  document.body.dataset.done = r.map((x) => x.status).join(",");
}});
</script></body>"""
    return {"form.html": form, "script.html": script}


def test_cross_site_form_post_is_refused(page: Page, server: Server, tmp_path: Path) -> None:
    job_id = parked_job(server)
    vid = video_id(server)
    with other_site(tmp_path / "site", attack_pages(server.url, job_id, vid)) as site:
        page.goto(f"{site}/form.html")
        expect(page.locator("body")).to_contain_text("Cross-site request refused")
    assert job_status(server, job_id) == "pending"


def test_cross_site_fetch_posts_are_refused(page: Page, server: Server, tmp_path: Path) -> None:
    job_id = parked_job(server)
    vid = video_id(server)
    before = rescans_of(server, vid)
    with other_site(tmp_path / "site", attack_pages(server.url, job_id, vid)) as site:
        page.goto(f"{site}/script.html")
        expect(page.locator("body")).to_have_attribute("data-done", re.compile(r"\w+,\w+,\w+"))
    assert job_status(server, job_id) == "pending"
    assert rescans_of(server, vid) == before
    with server.db.unit_of_work() as session:
        assert len(session.scalars(select(Job)).all()) == 2  # the fixture's scan and ours


def test_cross_site_post_with_a_live_session_is_refused(
    page: Page, protected_server: Server, tmp_path: Path
) -> None:
    server = protected_server
    log_in(page, server)
    job_id = parked_job(server)
    # Another port of the same host is the same *site*: the SameSite cookie goes along, and
    # only the Origin check stands between that page and the server.
    pages = attack_pages(server.url, job_id, video_id(server))
    with other_site(tmp_path / "site", pages, host="127.0.0.1") as site:
        page.goto(f"{site}/form.html")
        expect(page.locator("body")).to_contain_text("Cross-site request refused")
    assert job_status(server, job_id) == "pending"


def test_foreign_host_is_refused(page: Page, server: Server) -> None:
    port = server.url.rsplit(":", 1)[1]
    response = page.goto(f"http://rebind.test:{port}/api/tracks")
    assert response is not None
    assert response.status == 400
    expect(page.locator("body")).to_contain_text("MEDIASHELF_ALLOWED_HOSTS")
    page.goto(f"http://localhost:{port}/tracks")  # a loopback name is fine
    expect(page.locator("#tracks-table")).to_be_visible()


def test_headers_present_and_no_csp_violation(page: Page, server: Server) -> None:
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security" in m.text
            else None)  # fmt: skip
    for path in ("/tracks", f"/track/{video_id(server)}", "/jobs", "/jobs/1", "/login"):
        response = page.goto(server.url + path)
        assert response is not None
        headers = response.headers
        for name, value in SECURITY_HEADERS.items():
            assert headers[name] == value, (path, name)
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp
    page.goto(f"{server.url}/jobs")
    page.locator("#jobs-table [data-action=logs]").first.click()
    expect(page.locator("#job-modal [data-job=status]")).to_have_text("completed")
    assert violations == []


def log_in(page: Page, server: Server) -> None:
    """Log in through the form, as a person would."""
    page.goto(f"{server.url}/jobs")
    expect(page).to_have_url(re.compile(r"/login\?next=/jobs$"))
    page.locator("input[name=token]").fill(TOKEN)
    page.locator("form button[type=submit]").click()
    expect(page).to_have_url(f"{server.url}/jobs")


def rescan_cancel_and_retry(page: Page, server: Server) -> None:
    """Use the pages' own Rescan, New scan, Cancel and Retry, checking each took effect."""
    vid = video_id(server)
    before = rescans_of(server, vid)
    page.goto(f"{server.url}/track/{vid}")
    page.locator("#rescan-button").click()
    expect(page.locator(".toast")).to_contain_text("Rescanned")
    assert rescans_of(server, vid) == before + 1
    page.goto(f"{server.url}/jobs")
    page.locator("input[name=force]").check()
    page.locator("input[name=throttle_ms]").fill("1000")
    page.locator("input[name=batch_size]").fill("2")
    page.locator("#scan-form button[type=submit]").click()
    modal = page.locator("#job-modal")
    expect(modal.locator("[data-job=status]")).to_have_text("running", timeout=15_000)
    page.locator("#job-modal-close").click()
    row = page.locator("#jobs-table tbody tr").first
    row.locator("[data-action=cancel]").click()
    expect(row.locator(".badge")).to_have_text("cancelled", timeout=15_000)
    job_id = int(row.get_attribute("data-job-id") or 0)
    page.locator(f"#jobs-table tr[data-job-id='{job_id}'] [data-action=retry]").click()
    expect(page.locator(".toast").last).to_contain_text(f"Job {job_id} queued again")
    retried = page.locator(f"#jobs-table tr[data-job-id='{job_id}'] .badge")
    expect(retried).not_to_have_text("cancelled", timeout=15_000)
    assert job_status(server, job_id) in ("pending", "running", "completed")


def test_own_actions_work_without_a_token(page: Page, server: Server) -> None:
    rescan_cancel_and_retry(page, server)


def test_own_actions_work_with_a_token(page: Page, protected_server: Server) -> None:
    log_in(page, protected_server)
    rescan_cancel_and_retry(page, protected_server)
    page.locator("form.logout button").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    page.goto(f"{protected_server.url}/tracks")
    expect(page).to_have_url(re.compile(r"/login\?next=/tracks$"))


def test_wrong_token_says_so_and_reads_stay_closed(page: Page, protected_server: Server) -> None:
    response = page.goto(f"{protected_server.url}/api/tracks")
    assert response is not None
    assert response.status == 401
    page.goto(f"{protected_server.url}/login")
    page.locator("input[name=token]").fill("not-the-token")
    page.locator("form button[type=submit]").click()
    expect(page.locator("[role=alert]")).to_contain_text("not right")
