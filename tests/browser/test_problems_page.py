"""/problems and the track page's Verify in Chromium: list, Retry, Release, Retry all, Verify."""

from __future__ import annotations

import re
import shutil

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select, update

from mediashelf.db.schema import Job, Track
from tests.browser.conftest import Server

pytestmark = pytest.mark.browser

HOSTILE = "<img src=x onerror=alert(1)> bad header"
JOB_LINK = re.compile(r"^/jobs/(\d+)$")


def track(server: Server, relpath: str) -> Track:
    """Return the track row for `relpath`."""
    with server.db.unit_of_work() as session:
        row = session.scalar(select(Track).where(Track.relpath == relpath))
        assert row is not None
        return row


def set_track(server: Server, relpath: str, **values: object) -> str:
    """Overwrite columns of a track; return its id."""
    with server.db.unit_of_work() as session:
        session.execute(update(Track).where(Track.relpath == relpath).values(**values))
    return track(server, relpath).video_id


def job_of(page: Page, text: str) -> int:
    """Return the id of the job linked from the toast that says `text`."""
    link = page.locator(".toast", has_text=text).locator("a").last
    match = JOB_LINK.match(link.get_attribute("href") or "")
    assert match is not None
    return int(match.group(1))


def test_problems_page_lists_by_class_and_its_actions_run_jobs(page: Page, server: Server) -> None:
    set_track(server, "broken/truncated.mp4", probe_error_class="timeout", probe_failures=2)
    set_track(server, "broken/notes.mkv", probe_error=HOSTILE)
    fixed = track(server, "broken/random.mp4").video_id
    page.goto(f"{server.url}/problems")
    classes = page.locator(".class-filters")
    expect(classes.locator("[data-count=corrupt]")).to_have_text("2")
    expect(classes.locator("[data-count=empty]")).to_have_text("1")
    expect(classes.locator("[data-count=quarantined]")).to_have_text("1")
    expect(page.locator("#nav-problems")).to_have_text("4")
    rows = page.locator("#problems-table tbody tr")
    expect(rows).to_have_count(4)
    expect(rows.filter(has_text="notes.mkv").locator(".message")).to_have_text(HOSTILE)
    expect(rows.filter(has_text="random.mp4").locator("a")).to_have_attribute(
        "href", f"/track/{fixed}"
    )

    shutil.copy(server.library / "video/h264_aac.mp4", server.library / "broken/random.mp4")
    rows.filter(has_text="random.mp4").get_by_role("button", name="Retry").click()
    retry_job = job_of(page, "Retry: queued library_scan")
    expect(page.locator(".toast", has_text="Library scan completed")).to_be_visible(timeout=30_000)
    expect(rows).to_have_count(3)  # the repaired file left the list once its job ended
    expect(classes.locator("[data-count=corrupt]")).to_have_text("1")
    expect(page.locator("#nav-problems")).to_have_text("3")
    assert page.locator("#problems-table img").count() == 0

    release = rows.filter(has_text="truncated.mp4").get_by_role(
        "button", name=re.compile("Release")
    )
    release.focus()
    page.keyboard.press("Enter")  # keyboard reachable
    expect(page.locator(".toast", has_text="Released broken/truncated.mp4")).to_be_visible()
    expect(rows.filter(has_text="truncated.mp4").locator(".badge")).to_have_text("timeout")
    expect(rows.filter(has_text="truncated.mp4").get_by_role("button")).to_have_count(1)
    assert track(server, "broken/truncated.mp4").probe_failures == 0

    empty = classes.locator("li[data-class=empty]").get_by_role("button", name="Retry all empty")
    empty.click()
    class_job = job_of(page, "Retry all empty: queued library_scan")
    expect(classes.locator(f"a.job-link[href='/jobs/{class_job}']")).to_contain_text(
        "completed", timeout=30_000
    )
    expect(classes.locator("[data-count=empty]")).to_have_text("1")  # still empty, tried again

    page.locator("#problem-filter input[name=path]").fill("audio/")
    page.locator("#problem-filter button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"path=audio"))
    expect(page.locator("#problems-table tbody tr.empty")).to_contain_text("No problems here")
    verify = page.locator("#verify-button")
    expect(verify).to_have_text("Verify this folder")
    page.locator("#verify-form input[name=lossless_only]").check()
    verify.click()
    verify_job = job_of(page, "Verify: queued library_verify")
    expect(page.locator(".toast", has_text="Verification completed")).to_be_visible(timeout=30_000)
    expect(verify).to_be_enabled()

    with server.db.unit_of_work() as session:
        jobs = {j.id: j for j in session.scalars(select(Job).where(Job.trigger == "ui"))}
    assert jobs[retry_job].params["reprobe_ids"] == [fixed]
    assert jobs[class_job].params["reprobe_class"] == "empty"
    assert (jobs[verify_job].params["path"], jobs[verify_job].params["lossless_only"]) == (
        "audio", True,
    )  # fmt: skip
    page.goto(f"{server.url}/jobs")
    for job_id in (retry_job, class_job, verify_job):
        expect(page.locator(f"#jobs-table tr[data-job-id='{job_id}'] .badge")).to_have_text(
            "completed"
        )


def test_track_page_verify_shows_the_verification_record(page: Page, server: Server) -> None:
    broken = track(server, "broken/notes.mkv")
    page.goto(f"{server.url}/track/{broken.video_id}")
    expect(page.locator("#problem-notice")).to_contain_text("The last probe failed (corrupt)")
    expect(page.locator("[data-field=problem_class]")).to_have_text("corrupt")
    page.locator("#verify-button").click()  # a file that does not probe is not decoded either
    expect(page.locator(".toast-error", has_text="Nothing was verified")).to_be_visible(
        timeout=30_000
    )

    flac = track(server, "audio/flac16_stereo.flac")
    page.goto(f"{server.url}/track/{flac.video_id}")
    expect(page.locator("[data-field=verified_at]")).to_have_text("-")
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    # Two clicks in one go, as a double click lands: the second finds the button busy.
    page.evaluate(
        "() => { const b = document.getElementById('verify-button'); b.click(); b.click(); }"
    )
    expect(page.locator(".toast", has_text="decodes cleanly")).to_be_visible(timeout=30_000)
    verified = track(server, "audio/flac16_stereo.flac")
    assert verified.verified_at is not None
    assert verified.decode_errors == 0
    expect(page.locator("[data-field=verified_at]")).to_have_text(
        verified.verified_at.strftime("%Y-%m-%d %H:%M:%S")
    )
    expect(page.locator("[data-field=decode_errors]")).to_have_text("0")
    expect(page.locator("#verify-button")).to_be_enabled()
    assert posts == [f"{server.url}/api/problems/verify"]
    with server.db.unit_of_work() as session:
        jobs = session.scalars(select(Job).where(Job.kind == "library_verify").order_by(Job.id))
        assert [(j.params["video_ids"], j.trigger) for j in jobs] == [
            ([broken.video_id], "ui"), ([flac.video_id], "ui"),
        ]  # fmt: skip
