"""The problems API and page: list, retry, release, verify, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
import shutil
from typing import Any

from sqlalchemy import update
from typer.testing import CliRunner

from mediashelf.cli.main import app as cli
from mediashelf.db.schema import Track
from tests.conftest import scan, wait_for_job
from tests.web.conftest import App

BROKEN = ["broken/empty.mp3", "broken/notes.mkv", "broken/random.mp4", "broken/truncated.mp4"]
UI = {"x-mediashelf-client": "ui"}
HTML = {"accept": "text/html"}


def set_track(app: App, relpath: str, **values: object) -> str:
    """Overwrite columns of a track (a state a scan or a verification would leave); its id."""
    with app.db.unit_of_work() as session:
        session.execute(update(Track).where(Track.relpath == relpath).values(**values))
    return app.track(relpath).video_id


def job(app: App, job_id: int) -> dict[str, Any]:
    """Return the job as the API shows it."""
    body: dict[str, Any] = app.client.get(f"/api/jobs/{job_id}").json()
    return body


def error(response: Any, status: int, needle: str = "") -> dict[str, Any]:
    """Assert an error in the one shape with `status` and `needle`; return its body."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == "error"
    assert needle in body["error"]
    return body


def test_list_counts_filters_and_pages_like_the_cli_and_the_page(app: App) -> None:
    body = app.client.get("/api/problems").json()
    assert body["counts"] == {"corrupt": 3, "empty": 1}
    assert (body["total"], body["limit"], body["offset"]) == (4, 50, 0)
    assert [item["relpath"] for item in body["items"]] == BROKEN
    empty = body["items"][0]
    assert (empty["problem_class"], empty["message"]) == ("empty", "The file is empty.")
    assert empty["first_seen"] is not None
    assert empty["last_tried"] is not None
    assert empty["quarantined"] is False

    corrupt = app.client.get("/api/problems", params={"class": "corrupt"}).json()
    assert [item["relpath"] for item in corrupt["items"]] == BROKEN[1:]
    for item in corrupt["items"]:  # §8: the per-file message and the prober that said so
        assert item["prober"] is not None
        assert item["prober"].startswith("pyav"), item
    assert corrupt["counts"] == body["counts"]  # counts stay per class, as filter links
    page = app.client.get("/api/problems", params={"limit": 2, "offset": 1}).json()
    assert [item["relpath"] for item in page["items"]] == BROKEN[1:3]
    assert (page["total"], page["limit"], page["offset"]) == (4, 2, 1)
    assert app.client.get("/api/problems", params={"path": "broken/"}).json()["total"] == 4
    elsewhere = app.client.get("/api/problems", params={"path": "audio"}).json()
    assert (elsewhere["counts"], elsewhere["items"], elsewhere["total"]) == ({}, [], 0)

    env = {"MEDIASHELF_DATABASE_URL": app.db.url, "MEDIASHELF_LIBRARY": str(app.library)}
    printed = CliRunner().invoke(cli, ["problems", "--class", "corrupt", "--json"], env=env)
    assert printed.exit_code == 0, printed.output
    assert json.loads(printed.stdout) == corrupt

    html = app.client.get("/problems", params={"class": "corrupt"}, headers=HTML)
    assert html.status_code == 200
    rows = re.findall(r'<tr data-video-id="([^"]+)" data-class="corrupt">', html.text)
    assert rows == [item["video_id"] for item in corrupt["items"]]
    assert 'href="?class=empty"' in html.text  # the other class, as a filter link
    assert "1–3 of 3 tracks (corrupt)" in html.text
    paged = app.client.get("/problems", params={"limit": 2}, headers=HTML).text
    assert 'href="?limit=2&amp;offset=2" rel="next"' in paged


BAD_LISTS: list[tuple[dict[str, str | int], str]] = [
    ({"class": "bogus"}, "class"), ({"path": "../etc"}, "path"), ({"path": "/etc"}, "path"),
    ({"path": "a\x00b"}, "NUL"), ({"limit": 0}, "limit"), ({"limit": 501}, "limit"),
    ({"offset": -1}, "offset"), ({"offset": 2**31}, "offset"),
]  # fmt: skip


def test_bad_list_parameters_are_422(app: App) -> None:
    for params, needle in BAD_LISTS:
        error(app.client.get("/api/problems", params=params), 422, needle)
    for page_params, needle in [BAD_LISTS[0], BAD_LISTS[3]]:
        page = app.client.get("/problems", params=page_params, headers=HTML)
        assert page.status_code == 422
        assert needle in page.text
    assert app.client.get("/problems", params={"path": ".", "class": ""}).status_code == 200


def test_retry_one_scans_its_folder_and_retry_a_class_reprobes_the_class(app: App) -> None:
    random_id = app.track("broken/random.mp4").video_id
    first = app.client.post("/api/problems/retry", json={"video_id": random_id}, headers=UI)
    assert first.status_code == 201, first.text
    started = first.json()
    assert (started["joined"], started["kind"]) == (False, "library_scan")
    queued = job(app, started["job_id"])
    assert queued["params"]["path"] == "broken"
    assert queued["params"]["reprobe_ids"] == [random_id]
    assert queued["trigger"] == "ui"
    again = app.client.post("/api/problems/retry", json={"video_id": random_id}).json()
    assert (again["job_id"], again["joined"]) == (started["job_id"], True)
    busy = error(app.client.post("/api/problems/retry", json={"class": "empty"}), 409, "active")
    assert busy["job_id"] == started["job_id"]
    assert busy["active_params"]["reprobe_ids"] == [random_id]

    ended = wait_for_job(app.runtime, started["job_id"])
    assert ended.status == "completed"
    assert ended.progress["failed"] == 1  # the one file asked for; its folder's others unchanged

    whole = app.client.post("/api/problems/retry", json={"class": "corrupt", "path": "broken/"})
    assert whole.status_code == 201, whole.text
    assert job(app, whole.json()["job_id"])["params"]["reprobe_class"] == "corrupt"
    assert job(app, whole.json()["job_id"])["params"]["path"] == "broken"
    assert wait_for_job(app.runtime, whole.json()["job_id"]).progress["failed"] == 3


def test_retry_of_a_track_whose_folder_is_gone_scans_the_nearest_folder_left(
    app: App,
) -> None:
    """It was refused: "invalid params: path: there is no folder …", a path never given."""
    shutil.copytree(app.library / "audio", app.library / "Album/Disc 1")
    assert scan(app.runtime).status == "completed"
    gone = app.track("Album/Disc 1/plain.mp3").video_id
    shutil.rmtree(app.library / "Album/Disc 1")
    assert scan(app.runtime, allow_mass_missing=True).status == "completed"
    retried = app.client.post("/api/problems/retry", json={"video_id": gone})
    assert retried.status_code == 201, retried.text
    assert job(app, retried.json()["job_id"])["params"]["path"] == "Album"
    assert wait_for_job(app.runtime, retried.json()["job_id"]).status == "completed"
    shutil.rmtree(app.library / "Album")
    again = app.client.post("/api/problems/retry", json={"video_id": gone})
    assert again.status_code == 201, again.text
    assert job(app, again.json()["job_id"])["params"]["path"] is None  # the whole library


def test_decode_errors_are_retried_by_a_verification(app: App) -> None:
    flac = set_track(app, "audio/flac16_stereo.flac", decode_errors=2, decode_error="bad frame",
                     decode_error_at_s=1.5)  # fmt: skip
    listed = app.client.get("/api/problems", params={"class": "decode_errors"}).json()
    assert [item["video_id"] for item in listed["items"]] == [flac]
    assert "first at 1.5s: bad frame" in listed["items"][0]["message"]
    one = app.client.post("/api/problems/retry", json={"video_id": flac}).json()
    assert one["kind"] == "library_verify"
    assert job(app, one["job_id"])["params"]["video_ids"] == [flac]
    assert wait_for_job(app.runtime, one["job_id"]).status == "completed"
    track = app.client.get(f"/api/track/{flac}").json()
    assert (track["decode_errors"], track["decode_error"]) == (0, None)
    assert track["problem_class"] is None
    assert track["verified_at"] is not None
    set_track(app, "audio/flac16_stereo.flac", decode_errors=2)
    whole = app.client.post("/api/problems/retry", json={"class": "decode_errors"}).json()
    assert whole["kind"] == "library_verify"
    assert job(app, whole["job_id"])["params"]["problems_only"] is True


def test_bad_retry_bodies_and_unknown_tracks(app: App) -> None:
    for body, needle in [
        ({}, "exactly one"), ({"video_id": "abcdefgh", "class": "empty"}, "exactly one"),
        ({"class": "bogus"}, "class"), ({"class": "empty", "path": "../x"}, "path"),
        ({"video_id": "abcdefgh", "path": "broken"}, "path"), ({"video_id": "no"}, "video_id"),
        ({"class": "empty", "nope": 1}, "nope"), ({"class": "empty", "path": "nowhere"}, "nowhere"),
    ]:  # fmt: skip
        error(app.client.post("/api/problems/retry", json=body), 422, needle)
    error(app.client.post("/api/problems/retry", content=b"[", headers={"content-type":
                          "application/json"}), 422)  # fmt: skip
    error(app.client.post("/api/problems/retry", json={"video_id": "AAAAAAAAAAA"}), 404)
    assert app.client.get("/api/jobs", params={"kind": "library_scan"}).json()["total"] == 1


def test_release_lifts_a_quarantine_and_is_audited(app: App) -> None:
    stuck = set_track(app, "broken/random.mp4", probe_error_class="timeout", probe_failures=2)
    listed = app.client.get("/api/problems", params={"class": "quarantined"}).json()
    assert [(i["video_id"], i["quarantined"]) for i in listed["items"]] == [(stuck, True)]
    page = app.client.get("/problems", params={"class": "quarantined"}, headers=HTML).text
    assert 'data-action="release"' in page
    released = app.client.post(f"/api/track/{stuck}/release", headers=UI)
    assert released.status_code == 200, released.text
    track = released.json()
    assert (track["video_id"], track["probe_failures"], track["problem_class"]) == (
        stuck, 0, "timeout",
    )  # fmt: skip
    [event] = app.audit("track.release")
    assert (event.actor, event.video_id, event.details) == ("ui", stuck, {"probe_failures": [2, 0]})
    error(app.client.post(f"/api/track/{stuck}/release"), 409, "not quarantined")
    error(app.client.post("/api/track/AAAAAAAAAAA/release"), 404, "track not found")
    error(app.client.post("/api/track/x/release"), 400, "malformed")


def test_verify_a_folder_or_some_tracks(app: App) -> None:
    first = app.client.post("/api/problems/verify")
    assert first.status_code == 201, first.text
    assert first.json()["kind"] == "library_verify"
    params = job(app, first.json()["job_id"])["params"]
    assert (params["path"], params["video_ids"], params["lossless_only"]) == (None, None, False)
    busy = error(app.client.post("/api/problems/verify", json={"path": "audio"}), 409)
    assert busy["job_id"] == first.json()["job_id"]
    assert app.client.post(f"/api/jobs/{first.json()['job_id']}/cancel").status_code == 200
    for body, needle in [
        ({"path": "../x"}, "path"), ({"path": "nowhere"}, "nowhere"), ({"nope": 1}, "nope"),
        ({"lossless_only": "yes"}, "lossless_only"), ({"video_ids": []}, "video_ids"),
        ({"video_ids": ["bad id"]}, "video_ids"),
    ]:  # fmt: skip
        error(app.client.post("/api/problems/verify", json=body), 422, needle)
    flac = app.track("audio/flac16_stereo.flac").video_id
    unknown = {"video_ids": [flac, "nonexist000"]}  # like a retry of an unknown track: 404
    error(app.client.post("/api/problems/verify", json=unknown), 404, "not found: nonexist000")
    body = {"path": "audio", "lossless_only": True, "video_ids": [flac]}
    started = app.client.post("/api/problems/verify", json=body).json()
    params = job(app, started["job_id"])["params"]
    assert {name: params[name] for name in body} == body
    ended = wait_for_job(app.runtime, started["job_id"])
    assert (ended.status, ended.progress["processed"], ended.progress["ok"]) == ("completed", 1, 1)
    assert app.client.get(f"/api/track/{flac}").json()["verified_at"] is not None


def test_every_problem_route_documents_its_errors(app: App) -> None:
    paths = app.client.get("/openapi.json").json()["paths"]
    expected = {
        ("get", "/api/problems"): {"422", "503"},
        ("post", "/api/problems/retry"): {"403", "404", "409", "422"},
        ("post", "/api/problems/verify"): {"403", "404", "409", "415", "422"},
        ("post", "/api/track/{video_id}/release"): {"400", "403", "404", "409"},
    }
    for (method, path), codes in expected.items():
        documented = set(paths[path][method]["responses"])
        assert codes <= documented, (method, path, documented)
    assert "class" in {p["name"] for p in paths["/api/problems"]["get"]["parameters"]}
