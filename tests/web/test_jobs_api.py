"""The jobs API: create, list, inspect, logs, cancel, retry, stats, metrics."""

from __future__ import annotations

import re

import pytest

from tests.conftest import wait_for_job
from tests.library.test_scan import PROGRESS
from tests.web.conftest import App


def create_scan(app: App, **params: object) -> int:
    """POST a library scan and return its id."""
    response = app.client.post("/api/jobs", json={"kind": "library_scan", "params": params})
    assert response.status_code == 201, response.text
    job_id: int = response.json()["job_id"]  # §7: 201 {job_id, ...}
    assert response.json()["id"] == job_id
    return job_id


def test_create_then_duplicate_is_409_with_the_active_id(app: App) -> None:
    job_id = create_scan(app, force=True)
    body = app.client.get(f"/api/jobs/{job_id}").json()
    assert (body["status"], body["kind"], body["trigger"]) == ("pending", "library_scan", "api")
    assert body["params"]["force"] is True
    assert body["error_summary"] == {}  # no failures: always an object, never null
    again = app.client.post("/api/jobs", json={"kind": "library_scan"})
    assert again.status_code == 409
    assert again.json()["job_id"] == job_id
    assert again.json()["status"] == "error"


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"kind": "defragment"}, "unknown job kind"),
        ({"kind": "library_scan", "params": {"batch_size": 0}}, "batch_size"),
        ({"kind": "library_scan", "params": {"nope": True}}, "nope"),
        ({"kind": "library_scan", "params": [1]}, "params"),
        ({"kind": "library_scan", "priority": 1000}, "priority"),
        ({"kind": "library_verify", "params": {"video_ids": []}}, "video_ids"),  # not "all"
        ({}, "kind"),
        # Strict types: a one-row-batch scan and a forced one were made of these.
        ({"kind": "library_scan", "params": {"batch_size": True}}, "batch_size"),
        ({"kind": "library_scan", "params": {"force": "yes"}}, "force"),
        ({"kind": "library_scan", "params": {"dry_run": 1}}, "dry_run"),
        ({"kind": "library_scan", "params": {"throttle_ms": "0"}}, "throttle_ms"),
        ({"kind": "library_scan", "priority": "1"}, "priority"),
        ({"kind": "library_verify", "params": {"lossless_only": "true"}}, "lossless_only"),
        ({"kind": "library_scan", "params": {"path": "../etc"}}, "path: must be a folder"),
    ],
)
def test_bad_job_requests_are_422_with_a_message(
    app: App, body: dict[str, object], needle: str
) -> None:
    response = app.client.post("/api/jobs", json=body)
    assert response.status_code == 422
    assert response.json()["status"] == "error"
    assert needle in response.json()["error"]
    assert "Value error" not in response.json()["error"]


def test_a_whole_number_is_a_rate_and_malformed_json_says_so(app: App) -> None:
    rate = {"kind": "library_scan", "params": {"max_probes_per_s": 5}}
    assert app.client.post("/api/jobs", json=rate).status_code == 201
    broken = app.client.post("/api/jobs", content=b'{"kind": ',
                             headers={"content-type": "application/json"})  # fmt: skip
    assert broken.status_code == 422
    assert broken.json()["error"] == "malformed body: not JSON"


@pytest.mark.parametrize(
    ("path", "content_type"),
    [("/api/jobs", "application/x-www-form-urlencoded"), ("/api/jobs", "text/plain"),
     ("/api/problems/retry", "application/x-www-form-urlencoded"), ("/api/jobs", None),
     ("/api/problems/verify", "text/plain"),
     ("/api/track/abcdefghijk/rescan_media", "text/plain"),  # it reads its JSON itself
     ("/api/track/abcdefghijk/rescan_media", None)],
)  # fmt: skip
def test_a_json_body_sent_as_another_type_is_415_naming_the_type(
    app: App, path: str, content_type: str | None
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    body = b'{"kind": "library_scan", "class": "corrupt"}'
    response = app.client.post(path, content=body, headers=headers)
    assert response.status_code == 415, response.text
    assert response.json()["status"] == "error"
    assert "application/json" in response.json()["error"]
    assert (content_type or "none") in response.json()["error"]


def test_an_empty_filter_is_no_filter(app: App) -> None:
    create_scan(app)
    everything = app.client.get("/api/jobs").json()["total"]
    for empty in ({"status": ""}, {"kind": ""}, {"status": "", "kind": ""}):
        response = app.client.get("/api/jobs", params=empty)
        assert response.status_code == 200, response.text
        assert response.json()["total"] == everything >= 1
    assert app.client.get("/api/jobs", params={"status": "nope"}).status_code == 422


def test_every_json_body_route_documents_its_415(app: App) -> None:
    paths = app.client.get("/openapi.json").json()["paths"]
    for path in ("/api/jobs", "/api/problems/retry", "/api/problems/verify",
                 "/api/track/{video_id}/rescan_media"):  # fmt: skip
        assert "415" in paths[path]["post"]["responses"], path


def test_run_to_completion_then_read_logs_incrementally(app: App) -> None:
    job_id = create_scan(app, force=True, batch_size=5)
    job = wait_for_job(app.runtime, job_id)
    assert job.status == "completed"
    body = app.client.get(f"/api/jobs/{job_id}").json()
    assert body["summary"].startswith("Library scan completed in")
    assert body["error_summary"]["corrupt"]["count"] == 3
    assert body["progress"]["phase"] == "done"
    assert body["duration_s"] >= 0
    assert body["children"] == {}

    first = app.client.get(f"/api/jobs/{job_id}/logs", params={"limit": 3}).json()
    assert len(first["lines"]) == 3
    rest = app.client.get(
        f"/api/jobs/{job_id}/logs", params={"after": first["next_after"], "limit": 1000}
    ).json()
    ids = [line["id"] for line in first["lines"] + rest["lines"]]
    assert ids == sorted(set(ids))
    empty = app.client.get(f"/api/jobs/{job_id}/logs", params={"after": ids[-1]}).json()
    assert empty == {"lines": [], "next_after": ids[-1]}
    last = app.client.get(f"/api/jobs/{job_id}/logs", params={"limit": 3, "tail": True}).json()
    assert [line["id"] for line in last["lines"]] == ids[-3:]  # a long log opens on its end
    assert last["next_after"] == ids[-1]

    progress = app.client.get(f"/api/jobs/{job_id}/logs", params={"stream": "progress"}).json()
    assert progress["lines"]
    assert all(line["stream"] == "progress" for line in progress["lines"])
    unset = app.client.get(f"/api/jobs/{job_id}/logs", params={"stream": "", "limit": 1000})
    assert unset.status_code == 200  # empty is no filter, as for every other one (was 422)
    assert len(unset.json()["lines"]) == len(ids)


def test_log_downloads_are_plain_text(app: App) -> None:
    job_id = create_scan(app)
    wait_for_job(app.runtime, job_id)
    progress = app.client.get(f"/api/jobs/{job_id}/logs/progress.log")
    assert progress.status_code == 200
    assert progress.headers["content-type"].startswith("text/plain")
    lines = progress.text.splitlines()
    assert lines
    assert all(PROGRESS.match(line) for line in lines)
    joblog = app.client.get(f"/api/jobs/{job_id}/logs/job.log")
    assert re.search(r"INFO +completed: Library scan completed", joblog.text)
    assert app.client.get(f"/api/jobs/{job_id}/logs/other.log").status_code == 422
    assert app.client.get("/api/jobs/999999/logs/job.log").status_code == 404


def test_cancel_and_retry_with_audit(app: App) -> None:
    job_id = create_scan(app)
    cancelled = app.client.post(f"/api/jobs/{job_id}/cancel").json()
    assert cancelled["status"] == "cancelled"
    assert app.client.post(f"/api/jobs/{job_id}/cancel").status_code == 409
    retried = app.client.post(f"/api/jobs/{job_id}/retry").json()
    assert (retried["status"], retried["trigger"]) == ("pending", "retry")
    assert app.client.post(f"/api/jobs/{job_id}/retry").status_code == 409
    assert wait_for_job(app.runtime, job_id).status == "completed"
    actions = [e["action"] for e in app.client.get("/api/audit", params={"job_id": job_id})
               .json()["events"]]  # fmt: skip
    assert "job.cancel" in actions
    assert "job.retry" in actions
    assert actions.count("library.scan") == 2  # start and end


def test_retry_refused_while_an_identical_job_is_active(app: App) -> None:
    first = create_scan(app)
    app.client.post(f"/api/jobs/{first}/cancel")
    second = create_scan(app)
    response = app.client.post(f"/api/jobs/{first}/retry")
    assert response.status_code == 409
    assert response.json()["job_id"] == second


def test_retry_refused_by_a_different_active_scan_names_its_params(app: App) -> None:
    """It said "An identical job is already active" of any scan in the way."""
    first = create_scan(app, force=True)
    app.client.post(f"/api/jobs/{first}/cancel")
    other = create_scan(app, path="audio")
    response = app.client.post(f"/api/jobs/{first}/retry")
    assert response.status_code == 409
    body = response.json()
    assert body["job_id"] == other
    assert body["active_params"] == {"path": "audio"}
    assert "Another library_scan is already active" in body["error"]


def test_list_filters_and_stats(app: App) -> None:
    done = create_scan(app)
    wait_for_job(app.runtime, done)
    live = app.client.get("/api/jobs/stats").json()["workers"]
    assert len(live) == 1  # the worker wait_for_job started
    assert live[0]["heartbeat_age_s"] >= 0
    assert app.runtime.worker is not None
    app.runtime.worker.stop()  # leave the next job pending
    app.runtime.worker = None
    pending = create_scan(app)
    listed = app.client.get("/api/jobs").json()
    assert [j["id"] for j in listed["jobs"]][:2] == [pending, done]
    only = app.client.get("/api/jobs", params={"status": "completed"}).json()
    assert {j["status"] for j in only["jobs"]} == {"completed"}
    assert only["total"] == 2  # with the fixture's own scan
    assert app.client.get("/api/jobs", params={"status": "bogus"}).status_code == 422
    stats = app.client.get("/api/jobs/stats").json()
    assert stats["by_status"]["pending"] == 1
    assert stats["by_kind"]["library_scan"] == {"completed": 2, "pending": 1}
    assert stats["completed_today"] == 2
    assert stats["workers"] == []


def test_unknown_job_is_404(app: App) -> None:
    assert app.client.get("/api/jobs/424242").status_code == 404
    assert app.client.post("/api/jobs/424242/cancel").status_code == 404
    assert app.client.get("/api/jobs/abc").status_code == 422


def test_metrics_and_health(app: App) -> None:
    text = app.client.get("/metrics").text
    assert 'mediashelf_jobs{kind="library_scan",status="completed"} 1' in text
    assert 'mediashelf_tracks{probe_status="ok"} 18' in text
    assert "mediashelf_workers_alive 0" in text
