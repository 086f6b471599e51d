"""Input that once answered 500: big integers, NUL bytes, deep JSON, huge bodies; HEAD; media."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Route

from mediashelf.library.discovery import MEDIA_EXTENSIONS
from mediashelf.web.media_types import FALLBACK, MEDIA_TYPES
from tests.web.conftest import App

HUGE = ["2147483648", "9223372036854775807", "9223372036854775808", "18446744073709551616",
        "1" + "0" * 40, "-1", "-9223372036854775809"]  # fmt: skip


def job_id_of_a_scan(app: App) -> int:
    """Return the id of the fixture's completed library scan."""
    job_id: int = app.client.get("/api/jobs").json()["jobs"][0]["id"]
    return job_id


def assert_error(response: Any, status: int, needle: str = "") -> None:
    """Assert a JSON error in the one shape, with `status` and `needle` in the message."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == "error"
    assert needle in body["error"]


def test_out_of_range_integers_are_422(app: App) -> None:
    job_id = job_id_of_a_scan(app)
    for number in HUGE:
        for path in (f"/api/jobs/{number}", f"/api/jobs/{number}/logs",
                     f"/api/jobs/{number}/logs/job.log"):  # fmt: skip
            assert_error(app.client.get(path), 422, "job_id")
        for action in ("cancel", "retry"):
            assert_error(app.client.post(f"/api/jobs/{number}/{action}"), 422, "job_id")
        assert_error(app.client.get("/api/jobs", params={"offset": number}), 422, "offset")
        assert_error(app.client.get("/api/audit", params={"job_id": number}), 422, "job_id")
        assert_error(app.client.get("/api/audit", params={"offset": number}), 422, "offset")
        assert_error(app.client.get("/api/tracks", params={"page": number}), 422, "page")
        assert_error(app.client.get(f"/api/jobs/{job_id}/logs", params={"after": number}), 422)
        for page in (f"/jobs/{number}", f"/jobs/{number}/view"):
            html = app.client.get(page, headers={"accept": "text/html"})
            assert html.status_code == 422
            assert "job_id" in html.text


def test_the_largest_ids_in_range_are_plain_404s(app: App) -> None:
    assert_error(app.client.get("/api/jobs/2147483647"), 404, "job not found")
    assert_error(app.client.post("/api/jobs/2147483647/cancel"), 404)
    body = app.client.get("/api/jobs", params={"offset": 2147483647}).json()
    assert body["jobs"] == []
    assert app.client.get("/api/audit", params={"job_id": 2147483647}).json()["total"] == 0


NUL_QUERIES = [
    ("/api/tracks", {"q": "a\x00b"}),
    ("/api/tracks", {"filetype": "\x00"}),
    ("/api/tracks", {"video_codec": "h264\x00"}),
    ("/api/jobs", {"kind": "library_scan\x00"}),
    ("/api/audit", {"action": "\x00"}),
    ("/api/audit", {"video_id": "abc\x00defgh"}),
    ("/tracks", {"q": "\x00"}),
    ("/jobs", {"kind": "\x00"}),
]
NUL_PATHS = ["/api/track/abc%00defgh", "/api/track/abc%00defgh/audit", "/track/abc%00defgh",
             "/media/abc%00defgh"]  # fmt: skip
NUL_BODIES: list[dict[str, object]] = [
    {"kind": "library_scan", "params": {"path": "a\x00b"}},
    {"kind": "library_scan\x00"},
    {"kind": "library_scan", "params": {"path\x00": "x"}},
    {"kind": "library_scan", "params": {"path": ["\x00"]}},
]


def test_nul_bytes_anywhere_are_422(app: App) -> None:
    for path, params in NUL_QUERIES:
        response = app.client.get(path, params=params)
        assert response.status_code == 422, (path, params)
        assert "NUL" in response.text
    for path in NUL_PATHS:
        assert_error(app.client.get(path), 422, "NUL")
    assert_error(app.client.post("/api/track/abc%00defgh/rescan_media"), 400, "malformed id")
    for body in NUL_BODIES:
        assert_error(app.client.post("/api/jobs", json=body), 422, "NUL")


JSON = {"content-type": "application/json"}
UNSTORABLE = [
    (b'{"kind": "library_scan", "params": {"path": "\\ud800"}}', "surrogate"),
    (b'{"kind": "library_scan", "params": {"throttle_ms": Infinity}}', "finite"),
    (b'{"kind": "library_scan", "params": {"throttle_ms": 1e999}}', "finite"),
    (b'{"kind": "library_scan", "params": {"throttle_ms": NaN}}', "finite"),
    (b'{"kind": "library_scan", "priority": 1' + b"0" * 5000 + b"}", ""),
]


def test_unstorable_json_values_are_4xx(app: App) -> None:
    rescan = f"/api/track/{app.track('video/h264_aac.mp4').video_id}/rescan_media"
    for raw, needle in UNSTORABLE:
        response = app.client.post("/api/jobs", content=raw, headers=JSON)
        assert response.status_code in (400, 422), raw[:60]
        assert needle in response.json()["error"]
        assert_error(app.client.post(rescan, content=raw, headers=JSON), 400, "malformed body")


def test_deeply_nested_json_is_422(app: App) -> None:
    rescan = f"/api/track/{app.track('video/h264_aac.mp4').video_id}/rescan_media"
    for depth in (33, 1000, 100_000):
        nested = b'{"kind": "library_scan", "params": {"x": ' + b"[" * depth + b"]" * depth + b"}}"
        assert_error(app.client.post("/api/jobs", content=nested, headers=JSON), 422, "nested")
        assert_error(app.client.post(rescan, content=b"[" * depth, headers=JSON), 400, "nested")
    moderate = {"kind": "library_scan", "params": {"x": json.loads("[" * 30 + "]" * 30)}}
    assert_error(app.client.post("/api/jobs", json=moderate), 422, "x")  # the route judges
    (app.library / ("[" * 100 + '"{' * 50)).mkdir()
    text = {"kind": "library_scan", "params": {"path": "[" * 100 + '"{' * 50}}
    assert app.client.post("/api/jobs", json=text).status_code == 201  # brackets in strings


def test_bodies_over_the_limit_are_413(app: App) -> None:
    limit = app.runtime.settings.max_body_bytes
    big = b'{"kind": "library_scan", "params": {"path": "' + b"a" * limit + b'"}}'
    assert_error(app.client.post("/api/jobs", content=big, headers=JSON), 413, "larger")

    def chunks() -> Iterator[bytes]:  # no Content-Length: read until the limit, then refuse
        for start in range(0, len(big), 65536):
            yield big[start : start + 65536]

    assert_error(app.client.post("/api/jobs", content=chunks(), headers=JSON), 413)
    malformed = {**JSON, "content-length": "12abc"}
    assert app.client.post("/api/jobs", content=b"{}", headers=malformed).status_code == 400


def all_routes(routes: Sequence[BaseRoute]) -> Iterator[BaseRoute]:
    """Yield every route, looking into included routers."""
    for route in routes:
        included = getattr(route, "original_router", None)
        yield from all_routes(included.routes) if included is not None else [route]


def get_routes(app: App) -> list[str]:
    """Return every GET route's path with real ids filled in."""
    fills = {"{video_id}": app.track("audio/plain.mp3").video_id,
             "{job_id}": str(job_id_of_a_scan(app)), "{name}": "job.log"}  # fmt: skip
    paths = []
    for route in all_routes(app.client.app.routes):  # type: ignore[attr-defined]
        if isinstance(route, APIRoute | Route) and "GET" in (route.methods or ()):
            path = route.path
            for key, value in fills.items():
                path = path.replace(key, value)
            paths.append(path)
    return paths


def test_head_works_on_every_get_route(app: App) -> None:
    paths = get_routes(app)
    assert len(paths) >= 18
    for path in [*paths, "/static/app.css", "/static/js/api.js"]:
        get = app.client.get(path, follow_redirects=False)
        head = app.client.head(path, follow_redirects=False)
        assert head.status_code == get.status_code, path
        assert get.status_code < 400, path
        assert head.content == b"", path
        assert head.headers.get("content-type") == get.headers.get("content-type"), path
        assert "content-security-policy" in head.headers
    assert app.client.head("/api/jobs/999999").status_code == 404


def test_405_allows_every_method_served_at_the_path(app: App) -> None:
    for method, path, allowed in [
        ("PUT", "/api/jobs", "GET, HEAD, POST"),  # two routes share the path
        ("DELETE", "/api/tracks", "GET, HEAD"),
        ("GET", "/api/jobs/1/cancel", "POST"),
        ("PATCH", "/healthz", "GET, HEAD"),
        ("PUT", "/static/js/api.js", "GET, HEAD"),  # the static files' mount (was empty)
        ("POST", "/static/app.css", "GET, HEAD"),
    ]:
        response = app.client.request(method, path)
        assert_error(response, 405)
        assert response.headers["allow"] == allowed, (method, path)
        assert len(response.headers.get_list("allow")) == 1


def test_head_on_media_reads_nothing_and_tells_the_size(app: App) -> None:
    track = app.track("video/h264_aac.mp4")
    size = (app.library / "video/h264_aac.mp4").stat().st_size
    head = app.client.head(f"/media/{track.video_id}")
    assert head.status_code == 200
    assert head.content == b""
    assert int(head.headers["content-length"]) == size
    assert head.headers["accept-ranges"] == "bytes"
    assert head.headers["content-type"] == "video/mp4"


MEDIA = [
    ("audio/plain.mp3", "audio/mpeg"),
    ("audio/aac.m4a", "audio/mp4"),
    ("audio/opus.opus", "audio/ogg"),
    ("Música/Ñandú – canción.flac", "audio/flac"),
    ("audio/pcm_s24le_mono.wav", "audio/wav"),
    ("video/h264_aac.mp4", "video/mp4"),
    ("video/vp9_opus.webm", "video/webm"),
    ("video/h264_mp3.mkv", "video/x-matroska"),
]


def test_media_ranges_with_the_right_type(app: App) -> None:
    for relpath, content_type in MEDIA:
        media_is_served(app, relpath, content_type)


def media_is_served(app: App, relpath: str, content_type: str) -> None:
    """Check the whole file, two ranges and one beyond the end."""
    track = app.track(relpath)
    whole = (app.library / relpath).read_bytes()
    url = f"/media/{track.video_id}"
    full = app.client.get(url)
    assert (full.status_code, full.content) == (200, whole)
    assert full.headers["content-type"] == content_type
    assert full.headers["accept-ranges"] == "bytes"
    part = app.client.get(url, headers={"range": "bytes=10-49"})
    assert part.status_code == 206
    assert part.content == whole[10:50]
    assert part.headers["content-range"] == f"bytes 10-49/{len(whole)}"
    tail = app.client.get(url, headers={"range": "bytes=-16"})
    assert (tail.status_code, tail.content) == (206, whole[-16:])
    beyond = app.client.get(url, headers={"range": f"bytes={len(whole) + 10}-"})
    assert beyond.status_code == 416


def test_every_scanned_extension_has_a_media_type() -> None:
    assert set(MEDIA_EXTENSIONS) <= set(MEDIA_TYPES)
    assert all(v.startswith(("audio/", "video/")) for v in MEDIA_TYPES.values())
    assert FALLBACK == "application/octet-stream"


def test_unexpected_errors_are_a_bare_500_with_headers(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("/secret/server/path exploded")

    monkeypatch.setattr("mediashelf.web.api.jobs.list_jobs", broken)
    response = app.client.get("/api/jobs")
    assert response.status_code == 500
    assert response.json() == {"status": "error", "error": "internal error"}
    assert response.headers["x-content-type-options"] == "nosniff"


def test_cancel_of_a_finished_job_is_409_not_500(app: App) -> None:
    job_id = job_id_of_a_scan(app)
    assert app.client.get(f"/api/jobs/{job_id}").json()["status"] == "completed"
    assert_error(app.client.post(f"/api/jobs/{job_id}/cancel"), 409)
