"""The pages in a real Chromium: rescan, library scan with live progress, logs, cancel, toasts."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import FloatRect, Page, expect
from sqlalchemy import select, update

from mediashelf.db.schema import Job, Track
from mediashelf.jobs.store import JobStore
from mediashelf.web.render import duration
from tests.browser.conftest import Server, parked_job

pytestmark = pytest.mark.browser

VIDEO = "video/h264_aac.mp4"
LONG_SAMPLE = "broken/" + "Ünïcode folder name, long " * 9 + "/random.mp4"  # > 200 characters


def track(server: Server, relpath: str) -> Track:
    """Return the track row for `relpath`."""
    with server.db.unit_of_work() as session:
        row = session.scalar(select(Track).where(Track.relpath == relpath))
        assert row is not None
        return row


def spoil(server: Server, relpath: str, **values: object) -> Track:
    """Overwrite some columns of a track (as if an old probe had got them wrong)."""
    with server.db.unit_of_work() as session:
        session.execute(update(Track).where(Track.relpath == relpath).values(**values))
    return track(server, relpath)


def test_rescan_without_refresh_keeps_duration_and_fixes_bitrate(
    page: Page, server: Server
) -> None:
    before = spoil(server, VIDEO, bitrate=1000, duration=999.0)
    page.goto(f"{server.url}/track/{before.video_id}")
    expect(page.locator("[data-field=bitrate]")).to_have_text("1 kb/s")
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if "rescan_media" in r.url else None)
    # Two clicks in one go, as a double click lands: the second finds the button disabled.
    page.evaluate(
        "() => { const b = document.getElementById('rescan-button'); b.click(); b.click(); }"
    )
    expect(page.locator(".toast")).to_contain_text("bitrate")
    after = track(server, VIDEO)
    assert after.bitrate is not None
    assert after.bitrate != 1000
    assert after.duration == 999.0
    expect(page.locator("[data-field=bitrate]")).to_have_text(f"{after.bitrate / 1000:.0f} kb/s")
    expect(page.locator("[data-field=duration]")).to_have_text("16:39.0")
    expect(page.locator("#audit-table tbody tr").first).to_contain_text("bitrate")
    assert len(requests) == 1
    page.reload()
    expect(page.locator("#audit-table tbody tr").first).to_contain_text("ui")


def test_rescan_with_both_checkboxes_refreshes_duration_and_size(
    page: Page, server: Server
) -> None:
    before = spoil(server, VIDEO, duration=999.0, size_bytes=5)
    page.goto(f"{server.url}/track/{before.video_id}")
    expect(page.locator("#refresh-duration")).not_to_be_checked()
    expect(page.locator("#refresh-size")).not_to_be_checked()
    page.locator("#refresh-duration").check()
    page.locator("#refresh-size").check()
    page.locator("#rescan-button").click()
    expect(page.locator(".toast")).to_contain_text("duration")
    after = track(server, VIDEO)
    assert after.size_bytes == os.path.getsize(server.library / VIDEO)
    assert after.duration == pytest.approx(1.0, abs=0.1)
    expect(page.locator("[data-field=duration]")).to_have_text("0:01.0")
    expect(page.locator("[data-field=size_bytes]")).not_to_have_text("5 B")
    page.reload()  # the server renders the same values the DB holds
    expect(page.locator("[data-field=duration]")).to_have_text("0:01.0")


def test_missing_file_rescan_shows_the_error_and_changes_nothing(
    page: Page, server: Server
) -> None:
    before = track(server, VIDEO)
    os.remove(server.library / VIDEO)
    page.goto(f"{server.url}/track/{before.video_id}")
    page.locator("#rescan-button").focus()
    page.keyboard.press("Enter")
    expect(page.locator(".toast-error")).to_contain_text("file not found")
    expect(page.locator(".toast-error")).not_to_contain_text("..")
    expect(page.locator("#rescan-button")).to_be_enabled()
    expect(page.locator("#rescan-button")).to_be_focused()  # busy, then back where it was
    after = track(server, VIDEO)
    assert (after.bitrate, after.updated_at, after.probe_status) == (
        before.bitrate, before.updated_at, before.probe_status,
    )  # fmt: skip


def test_a_missing_track_offers_no_player(page: Page, server: Server) -> None:
    """The player asked /media for a file known to be gone: a 404 in the console."""
    from datetime import UTC, datetime

    before = spoil(server, VIDEO, missing_since=datetime.now(UTC))
    failed: list[str] = []
    page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
    page.goto(f"{server.url}/track/{before.video_id}")
    expect(page.locator(".media-player")).to_contain_text("Nothing to play")
    expect(page.locator("audio, video")).to_have_count(0)
    assert failed == []


def test_library_scan_from_jobs_page_shows_live_progress_and_cancels(
    page: Page, server: Server
) -> None:
    page.goto(f"{server.url}/jobs")
    page.locator("input[name=force]").check()  # the form is open, jobs or not
    page.locator("input[name=throttle_ms]").fill("1000")
    page.locator("input[name=batch_size]").fill("2")
    page.locator("#scan-form button[type=submit]").click()
    modal = page.locator("#job-modal")
    expect(modal).to_be_visible()
    bar = modal.locator("[data-job=bar]")
    expect(bar).to_have_attribute("value", re.compile(r"^[1-9]\d*$"), timeout=15_000)
    first = int(bar.get_attribute("value") or 0)
    expect(bar).not_to_have_attribute("value", str(first), timeout=15_000)  # it moves
    log = modal.locator("[data-job=log]")
    expect(log).to_contain_text("attempt 1/3 started", timeout=10_000)
    lines = log.inner_text().count("\n")
    page.wait_for_timeout(5_500)  # one log refresh period
    assert log.inner_text().count("\n") > lines  # the logs grew without a reload
    assert page.url.endswith("/jobs")
    page.locator("#job-modal-close").click()
    row = page.locator("#jobs-table tbody tr").first
    row.locator("[data-action=cancel]").click()
    expect(row.locator(".badge")).to_have_text("cancelled", timeout=15_000)
    with server.db.unit_of_work() as session:
        job = session.scalars(select(Job).order_by(Job.id.desc())).first()
        assert job is not None
        assert job.status == "cancelled"
        assert (job.progress.get("processed") or 0) < (job.progress.get("total") or 0)


def test_open_logs_opens_the_modal_with_logs_loaded(page: Page, server: Server) -> None:
    page.goto(f"{server.url}/jobs")
    page.locator("#jobs-table [data-action=logs]").first.click()
    modal = page.locator("#job-modal")
    expect(modal).to_be_visible()
    expect(modal.locator("[data-job=status]")).to_have_text("completed")
    expect(modal.locator("[data-job=log]")).to_contain_text("completed: Library scan completed")
    expect(modal.locator("[data-job=error-summary]")).to_contain_text("broken/empty.mp3")
    modal.locator("input[value=progress]").check()
    expect(modal.locator("[data-job=log]")).to_contain_text("phase=done")


def test_jobs_page_keeps_keyboard_focus_across_refreshes_and_the_modal(
    page: Page, server: Server
) -> None:
    """The table is rebuilt every 5 s; focus stayed on <body> after each rebuild."""
    page.goto(f"{server.url}/jobs")
    logs = page.locator("#jobs-table [data-action=logs]").first
    logs.focus()
    with page.expect_response(lambda r: "/api/jobs/stats" in r.url, timeout=15_000):
        pass  # one refresh of the table
    page.wait_for_function("document.querySelector('#jobs-table tbody tr') !== null")
    expect(page.locator("#jobs-table [data-action=logs]").first).to_be_focused()
    page.keyboard.press(" ")  # a link, opened with Space as a button would be
    modal = page.locator("#job-modal")
    expect(modal).to_be_visible()
    with page.expect_response(lambda r: "/api/jobs/stats" in r.url, timeout=15_000):
        pass  # the table behind the modal is rebuilt meanwhile
    page.keyboard.press("Escape")
    expect(modal).to_be_hidden()
    expect(page.locator("#jobs-table [data-action=logs]").first).to_be_focused()


def test_back_and_forward_show_the_filters_the_url_applied(page: Page, server: Server) -> None:
    page.goto(f"{server.url}/tracks")
    page.locator("select[name=per_page]").select_option("25")
    expect(page).to_have_url(re.compile(r"per_page=25"))
    page.locator("select[name=probe_status]").select_option("error")
    expect(page).to_have_url(re.compile(r"probe_status=error"))
    page.go_back()
    expect(page).not_to_have_url(re.compile(r"probe_status=error"))
    expect(page.locator("select[name=probe_status]")).to_have_value("")
    expect(page.locator("select[name=per_page]")).to_have_value("25")
    page.go_back()
    expect(page.locator("select[name=per_page]")).to_have_value("50")


def test_tracks_table_names_every_column_in_full(page: Page, server: Server) -> None:
    page.goto(f"{server.url}/tracks")
    headers = page.locator("#tracks-table thead th").all_inner_texts()
    for name in ("Title", "Duration", "Size", "Bitrate", "Resolution", "Video codec",
                 "Audio codec", "FPS", "Channels", "Sample rate", "Status"):  # fmt: skip
        assert any(h.strip().startswith(name) for h in headers), (name, headers)


def test_scan_results_show_on_tracks_and_track_pages(page: Page, server: Server) -> None:
    target = server.library / VIDEO
    target.write_bytes((server.library / "audio/aac.m4a").read_bytes())
    page.goto(f"{server.url}/jobs")
    page.locator("#scan-form button[type=submit]").click()
    expect(page.locator("#job-modal [data-job=status]")).to_have_text("completed", timeout=30_000)
    changed = track(server, VIDEO)
    assert changed.video_codec is None
    page.goto(f"{server.url}/tracks?q=h264_aac")
    row = page.locator("#tracks-table tbody tr").first
    expect(row).to_contain_text("h264_aac")
    expect(row.locator("td").nth(4)).to_have_text("-")  # resolution of an audio-only file
    expect(row.locator("td").nth(6)).to_have_text("aac")
    page.goto(f"{server.url}/track/{changed.video_id}")
    expect(page.locator("[data-field=video_codec]")).to_have_text("-")
    expect(page.locator("audio")).to_have_count(1)


def test_log_lines_from_files_render_as_text(page: Page, server: Server) -> None:
    hostile = "<img src=x onerror=alert(1)> broken name"
    with server.db.unit_of_work() as session:
        job = session.scalars(select(Job).order_by(Job.id.desc())).first()
        assert job is not None
        JobStore(session).log(job.id, 1, job.created_at, "warning", hostile)
        job_id = job.id
    page.goto(f"{server.url}/jobs/{job_id}")
    log = page.locator("[data-job=log]")
    expect(log).to_contain_text(hostile)
    assert page.locator("[data-job=log] img").count() == 0
    page.goto(f"{server.url}/jobs")
    page.locator(f"#jobs-table [data-action=logs][data-job-id='{job_id}']").click()
    expect(page.locator("#job-modal [data-job=log]")).to_contain_text(hostile)
    assert page.locator("#job-modal img").count() == 0


def test_tracks_page_sorts_filters_and_pages_in_the_url(page: Page, server: Server) -> None:
    page.goto(f"{server.url}/tracks")
    page.locator("select[name=per_page]").select_option("25")
    expect(page).to_have_url(re.compile(r"per_page=25"))
    page.locator("th a", has_text="Bitrate").click()
    expect(page).to_have_url(re.compile(r"sort=bitrate"))
    page.locator("select[name=probe_status]").select_option("error")
    expect(page).to_have_url(re.compile(r"probe_status=error"))
    expect(page.locator("#tracks-table tbody tr")).to_have_count(4)
    expect(page.locator("#tracks-table tbody .badge-error")).to_have_count(4)


def test_tracks_page_pages_next_then_previous_by_cursor(page: Page, server: Server) -> None:
    page.goto(f"{server.url}/tracks?per_page=25&sort=duration&order=desc")
    rows = page.locator("#tracks-table tbody td.title a")
    expect(rows).to_have_count(25)
    expect(page.locator(".pager")).to_contain_text("Page 1 of 3")
    first = rows.all_inner_texts()
    expect(page.locator("a[rel=prev]")).to_have_count(0)
    page.locator("a[rel=next]").click()
    expect(page).to_have_url(re.compile(r"cursor="))
    expect(page.locator(".pager")).to_contain_text("Page 2 of 3")
    second = rows.all_inner_texts()
    assert len(second) == 25
    assert not set(first) & set(second)
    page.locator("a[rel=prev]").click()
    expect(page.locator(".pager")).to_contain_text("Page 1 of 3")
    assert rows.all_inner_texts() == first
    page.locator("a[rel=last]").click()
    expect(page.locator(".pager")).to_contain_text("Page 3 of 3")
    expect(page.locator("a[rel=next]")).to_have_count(0)
    assert not set(rows.all_inner_texts()) & (set(first) | set(second))


def test_unknown_track_is_a_404_page(page: Page, server: Server) -> None:
    response = page.goto(f"{server.url}/track/AAAAAAAAAAA")
    assert response is not None
    assert response.status == 404
    expect(page.locator("h1")).to_contain_text("404")


def test_readable_at_360px(page: Page, server: Server) -> None:
    page.set_viewport_size({"width": 360, "height": 740})
    for path in ("/tracks", "/jobs", "/problems"):
        page.goto(server.url + path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"{path} scrolls sideways: {width}px"


def test_job_modal_errors_agree_with_the_counters_and_rate_is_shown(
    page: Page, server: Server
) -> None:
    with server.db.unit_of_work() as session:
        job = session.scalars(select(Job).order_by(Job.id)).first()
        assert job is not None
        job_id = job.id
        soon = datetime.now(UTC) + timedelta(hours=1)  # a heartbeat the reaper leaves alone
        progress = {"phase": "probe", "processed": 10, "total": 100, "failed": 4, "rate": 0}
        session.execute(update(Job).where(Job.id == job_id).values(
            status="running", finished_at=None, heartbeat_at=soon, progress=progress,
            error_summary=None, summary=None))  # fmt: skip
    with page.expect_response(lambda r: r.url.endswith(f"/api/jobs/{job_id}")):
        page.goto(f"{server.url}/jobs/{job_id}")
    view = page.locator(".job-view")
    expect(view.locator("[data-job=ungrouped]")).to_have_text(
        "4 failed so far, not grouped by class yet"
    )
    expect(view.locator("[data-job=error-summary]")).not_to_contain_text("none")
    expect(view.locator("[data-job=rate]")).to_contain_text("· - files/s")
    with server.db.unit_of_work() as session:  # the scan checks files; its own rate says 0
        session.execute(update(Job).where(Job.id == job_id).values(
            progress={**progress, "processed": 40}))  # fmt: skip
    paced = re.compile(r"· \d+(\.\d)? files/s")
    expect(view.locator("[data-job=rate]")).to_contain_text(paced, timeout=10_000)
    expect(view.locator("[data-job=rate]")).not_to_contain_text(" 0 files/s")
    for _ in range(2):  # polls that see no new step keep a pace (it used to blink back to "-")
        with page.expect_response(lambda r: r.url.endswith(f"/api/jobs/{job_id}")):
            pass
        expect(view.locator("[data-job=rate]")).to_contain_text(paced, timeout=1_000)
    with server.db.unit_of_work() as session:
        session.execute(update(Job).where(Job.id == job_id).values(
            progress={**progress, "failed": 5},
            error_summary={"corrupt": {"count": 3, "samples": [LONG_SAMPLE]}}))  # fmt: skip
    expect(view.locator("[data-job=error-summary]")).to_contain_text("corrupt: 3")
    # The sample links to a search that works: a path past the search's limit linked to 422.
    href = view.locator("[data-job=error-summary] a.sample").get_attribute("href")
    assert href is not None
    found = page.request.get(f"{server.url}{href}")
    assert found.status == 200
    assert LONG_SAMPLE.endswith(parse_qs(urlsplit(href).query)["q"][0])
    expect(view.locator("[data-job=ungrouped]")).to_have_text(
        "2 failed so far, not grouped by class yet"
    )


def test_unchanged_scan_shows_a_rate(page: Page, server: Server) -> None:
    page.goto(f"{server.url}/jobs")
    page.locator("#scan-form button[type=submit]").click()  # nothing changed since the index
    modal = page.locator("#job-modal")
    expect(modal.locator("[data-job=status]")).to_have_text("completed", timeout=30_000)
    rate = re.search(r"· ([\d.]+) files/s", modal.locator("[data-job=rate]").inner_text())
    assert rate is not None
    assert float(rate.group(1)) > 0


def boxes_overlap(a: FloatRect | None, b: FloatRect | None) -> bool:
    """Tell whether two bounding boxes intersect."""
    assert a is not None
    assert b is not None
    return not (a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"]
                or a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"])  # fmt: skip


def test_toasts_do_not_cover_the_tables_and_can_be_dismissed(page: Page, server: Server) -> None:
    page.goto(f"{server.url}/track/{track(server, VIDEO).video_id}")
    page.locator("#rescan-button").click()
    toast = page.locator(".toast").last
    expect(toast).to_contain_text("Rescanned")
    assert not boxes_overlap(toast.bounding_box(), page.locator("#audit-table").bounding_box())
    assert not boxes_overlap(toast.bounding_box(), page.locator("#rescan-form").bounding_box())
    toast.locator(".toast-close").click()
    expect(page.locator(".toast")).to_have_count(0)
    job_id = parked_job(server)
    page.goto(f"{server.url}/jobs")
    page.locator(f"#jobs-table tr[data-job-id='{job_id}'] [data-action=cancel]").click()
    toast = page.locator(".toast").last
    expect(toast).to_contain_text(f"Job {job_id}: cancel requested")
    assert not boxes_overlap(toast.bounding_box(), page.locator("#jobs-table").bounding_box())


def test_a_job_being_cancelled_shows_it_instead_of_a_cancel_button(
    page: Page, server: Server
) -> None:
    """A second Cancel was offered and refused (409, "a cancel was already requested")."""
    job_id = parked_job(server)
    row = page.locator(f"#jobs-table tr[data-job-id='{job_id}']")
    page.goto(f"{server.url}/jobs")
    expect(row.locator("[data-action=cancel]")).to_have_count(1)
    now = datetime.now(UTC)
    beating = now + timedelta(days=1)  # never silent: the test server's lease is short
    with server.db.unit_of_work() as session:  # running elsewhere, its cancel on its way
        session.execute(update(Job).where(Job.id == job_id).values(
            status="running", started_at=now, heartbeat_at=beating, attempt=1,
            worker_id="elsewhere", cancel_requested_at=now))  # fmt: skip
    try:  # the page's script redraws the rows from the API every 5 s
        expect(row.locator("[data-cancelling]")).to_have_text("cancelling…", timeout=15_000)
        expect(row.locator("[data-action=cancel]")).to_have_count(0)
        html = page.request.get(f"{server.url}/jobs").text()  # the server's own rows
        drawn = html[html.index(f'data-job-id="{job_id}"') :]
        drawn = drawn[: drawn.index("</tr>")]
        assert "cancelling…" in drawn
        assert 'data-action="cancel"' not in drawn
    finally:
        with server.db.unit_of_work() as session:
            session.execute(update(Job).where(Job.id == job_id).values(
                status="cancelled", finished_at=datetime.now(UTC)))  # fmt: skip


def test_player_shows_the_stored_duration_before_playback(page: Page, server: Server) -> None:
    for relpath in (VIDEO, "audio/plain.mp3", "Música/Ñandú – canción.flac"):
        row = track(server, relpath)
        assert row.duration
        page.goto(f"{server.url}/track/{row.video_id}")
        expect(page.locator("#player-duration")).to_contain_text(
            f"Duration {duration(row.duration)}"
        )
        player = page.locator(".media-player video, .media-player audio")
        assert player.evaluate("el => el.paused")


def test_api_docs_offline_point_at_the_schema(page: Page, server: Server) -> None:
    """Swagger UI comes from a CDN; a server without internet showed a blank /docs."""
    page.route("https://cdn.jsdelivr.net/**", lambda route: route.abort())
    page.goto(f"{server.url}/docs")
    note = page.locator("#swagger-ui")
    expect(note).to_contain_text("could not load Swagger UI")
    expect(note.locator("a")).to_have_attribute("href", "/openapi.json")


def test_an_ended_job_shows_no_eta(page: Page, server: Server) -> None:
    """A scan cancelled mid-run kept its last ETA: "34/73 · 3.4 files/s · ETA 11 s"."""
    job_id = parked_job(server)
    with server.db.unit_of_work() as session:
        session.execute(update(Job).where(Job.id == job_id).values(
            status="cancelled", finished_at=datetime.now(UTC), summary="Cancelled",
            progress={"phase": "apply", "processed": 34, "total": 73, "rate": 3.4, "eta_s": 11},
        ))  # fmt: skip
    page.goto(f"{server.url}/jobs/{job_id}")
    rate = page.locator("[data-job=rate]")
    expect(rate).to_contain_text("34/73")
    expect(rate).to_contain_text("ETA -")
    page.goto(f"{server.url}/jobs")
    page.locator(f"#jobs-table [data-action=logs][data-job-id='{job_id}']").click()
    modal = page.locator("#job-modal [data-job=rate]")
    expect(modal).to_contain_text("34/73")
    expect(modal).to_contain_text("ETA -")
