"""GET /api/tracks, /api/track/{id}, /api/audit, /healthz and the HTML index."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import scan
from tests.web.conftest import App

MEDIA_COUNT = 22  # video + audio + broken files in the per-test library (big/ excluded)


def test_lists_every_discovered_track(app: App) -> None:
    body = app.client.get("/api/tracks", params={"per_page": 500}).json()
    relpaths = {t["relpath"] for t in body["items"]}
    assert body["total"] == len(relpaths) == MEDIA_COUNT
    assert "Música/Ñandú – canción.flac" in relpaths
    assert "misc/notes.txt" not in relpaths
    assert (body["page"], body["per_page"]) == (1, 500)


def test_pagination_is_stable_and_complete(app: App) -> None:
    seen: list[str] = []
    for page in (1, 2, 3):
        body = app.client.get("/api/tracks", params={"per_page": 10, "page": page}).json()
        seen += [t["video_id"] for t in body["items"]]
    assert len(seen) == len(set(seen)) == MEDIA_COUNT


def test_sort_by_bitrate_desc_puts_unknown_last(app: App) -> None:
    items = app.client.get(
        "/api/tracks", params={"sort": "bitrate", "order": "desc", "per_page": 500}
    ).json()["items"]
    known = [t["bitrate"] for t in items if t["bitrate"] is not None]
    assert known == sorted(known, reverse=True)
    assert all(t["bitrate"] is None for t in items[len(known) :])


@pytest.mark.parametrize(
    ("params", "check"),
    [
        ({"video_codec": "h264"}, lambda t: t["video_codec"] == "h264"),
        ({"filetype": "flac"}, lambda t: t["filetype"] == "flac"),
        ({"resolution": "160x120"}, lambda t: t["resolution"] == "160x120"),
        ({"probe_status": "error"}, lambda t: t["relpath"].startswith("broken/")),
        ({"q": "ñandú"}, lambda t: "Ñandú" in t["title"]),
        ({"missing": "false"}, lambda t: t["missing_since"] is None),
    ],
)
def test_filters(app: App, params: dict[str, str], check: object) -> None:
    body = app.client.get("/api/tracks", params=params).json()
    assert body["total"] > 0
    assert all(check(t) for t in body["items"])  # type: ignore[operator]


def test_search_treats_like_wildcards_literally(app: App) -> None:
    assert app.client.get("/api/tracks", params={"q": "%"}).json()["total"] == 0


@pytest.mark.parametrize(
    "params",
    [{"per_page": 501}, {"per_page": 0}, {"page": 0}, {"sort": "password"}, {"order": "up"}],
)
def test_bad_list_parameters_are_422_with_a_message(app: App, params: dict[str, str | int]) -> None:
    response = app.client.get("/api/tracks", params=params)
    assert response.status_code == 422
    assert response.json()["status"] == "error"
    assert response.json()["error"]


def test_one_track_with_probe_record(app: App) -> None:
    track = app.track("audio/pcm_s24le_mono.wav")
    body = app.client.get(f"/api/track/{track.video_id}").json()
    assert body["audio_codec"] == "pcm_s24le"
    assert body["audio_bit_depth"] == 24
    assert body["probe_status"] == "ok"
    assert body["prober"].startswith("pyav")
    assert body["probed_at"].endswith(("+00:00", "Z"))


def test_bracketed_ytdlp_id_is_the_public_id(app: App) -> None:
    body = app.client.get("/api/track/dQw4w9WgXcQ").json()
    assert body["relpath"] == "Videos/My Clip [dQw4w9WgXcQ].mp4"
    assert body["title"] == "My Clip"


def test_failed_track_shows_its_error(app: App) -> None:
    track = app.track("broken/empty.mp3")
    body = app.client.get(f"/api/track/{track.video_id}").json()
    assert (body["probe_status"], body["probe_error_class"]) == ("error", "empty")


@pytest.mark.parametrize(("video_id", "status"), [("AAAAAAAAAAA", 404), ("bad id", 400)])
def test_track_errors(app: App, video_id: str, status: int) -> None:
    response = app.client.get(f"/api/track/{video_id}")
    assert response.status_code == status
    assert response.json()["status"] == "error"


def test_unknown_route_is_json_404(app: App) -> None:
    response = app.client.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.json() == {"status": "error", "error": "not found"}


def test_audit_list_filters(app: App) -> None:
    track = app.track("video/h264_aac.mp4")
    app.client.post(f"/api/track/{track.video_id}/rescan_media")
    assert app.client.get("/api/audit", params={"action": "track.rescan"}).json()["total"] == 1
    scans = app.client.get("/api/audit", params={"action": "library.scan"}).json()
    assert [e["details"]["phase"] for e in scans["events"]] == ["end", "start"]
    assert app.client.get("/api/audit", params={"video_id": "zzzzzzzzzzz"}).json()["total"] == 0
    everything = app.client.get("/api/audit").json()["total"]
    for empty in ({"action": ""}, {"video_id": ""}, {"action": "", "video_id": ""}):
        assert app.client.get("/api/audit", params=empty).json()["total"] == everything  # unset
    assert app.client.get("/api/audit", params={"action": "x" * 65}).status_code == 422


def test_healthz(app: App) -> None:
    assert app.client.get("/healthz").json() == {
        "status": "ok", "database": "ok", "disk": "ok", "workers": 0,
        "watch": {"mode": "off", "reason": "watch mode is not enabled (MEDIASHELF_WATCH)"},
        "library": {"status": "ok", "reason": None},
    }  # fmt: skip


def test_healthz_says_when_the_library_is_offline(app: App) -> None:
    """A dropped mount: scans wait and mark nothing missing, but /healthz said all was well
    and showed it nowhere outside the job list. The service itself stays healthy (200)."""
    away = app.library.with_name("library-unmounted")
    app.library.rename(away)
    try:
        app.library.mkdir()  # the empty mount point an unmounted drive leaves
        body = app.client.get("/healthz").json()
        assert body["status"] == "ok"
        assert body["library"]["status"] == "offline"
        assert "empty while" in body["library"]["reason"]
        app.library.rmdir()
        missing = app.client.get("/healthz")
        assert missing.status_code == 200
        assert missing.json()["library"] == {
            "status": "offline",
            "reason": "The library root does not exist or is offline.",
        }
        assert str(app.library) not in missing.text  # no paths
    finally:
        away.rename(app.library)
    assert app.client.get("/healthz").json()["library"] == {"status": "ok", "reason": None}


def test_tracks_page_is_the_html_twin_of_the_list(app: App) -> None:
    assert app.client.get("/", follow_redirects=False).headers["location"] == "/tracks"
    response = app.client.get("/tracks", params={"per_page": 500})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "Ñandú – canción" in response.text
    assert f"{MEDIA_COUNT} in the library" in response.text
    filtered = app.client.get("/tracks", params={"probe_status": "error", "filetype": ""})
    assert "4 match" in filtered.text


def test_pages_answer_errors_as_html(app: App) -> None:
    page = app.client.get("/track/AAAAAAAAAAA", headers={"accept": "text/html"})
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "track not found" in page.text
    bad = app.client.get("/tracks", params={"per_page": 9999}, headers={"accept": "text/html"})
    assert bad.status_code == 422
    assert "per_page" in bad.text


def test_media_streams_with_range_requests(app: App) -> None:
    track = app.track("audio/plain.mp3")
    whole = (app.library / "audio/plain.mp3").read_bytes()
    part = app.client.get(f"/media/{track.video_id}", headers={"range": "bytes=0-99"})
    assert part.status_code == 206
    assert part.content == whole[:100]
    assert part.headers["content-type"] == "audio/mpeg"
    (app.library / "audio/plain.mp3").unlink()
    assert app.client.get(f"/media/{track.video_id}").status_code == 404


@pytest.mark.parametrize(
    ("range_header", "status", "says"),
    [("bytes=9-0", 400, "start must be less than end"), ("bytes=abc", 400, "Range header"),
     ("items=0-5", 400, "bytes range"), ("bytes=99999999-", 416, "not satisfiable")],
)  # fmt: skip
def test_a_bad_range_is_the_json_error_shape_too(
    app: App, range_header: str, status: int, says: str
) -> None:
    """Like every other /media error; the file's own answers (200, 206) stream as before."""
    track = app.track("audio/plain.mp3")
    for method in ("GET", "HEAD"):
        answer = app.client.request(method, f"/media/{track.video_id}",
                                    headers={"range": range_header})  # fmt: skip
        assert answer.status_code == status, answer.text
        assert answer.headers["content-type"] == "application/json"
        if method == "GET":
            assert answer.json()["status"] == "error"
            assert says in answer.json()["error"]
            assert int(answer.headers["content-length"]) == len(answer.content)
    if status == 416:
        size = (app.library / "audio/plain.mp3").stat().st_size
        assert answer.headers["content-range"] == f"bytes */{size}"


def test_openapi_documents_the_rescan_body(app: App) -> None:
    spec = app.client.get("/openapi.json").json()
    post = spec["paths"]["/api/track/{video_id}/rescan_media"]["post"]
    schema = post["requestBody"]["content"]["application/json"]["schema"]
    assert set(schema["properties"]) == {"refresh_duration", "refresh_size"}


def test_search_follows_a_scan_that_adds_moves_and_misses_files(app: App) -> None:
    def found(q: str) -> list[str]:
        items = app.client.get("/api/tracks", params={"q": q, "per_page": 500}).json()["items"]
        return sorted(t["relpath"] for t in items if t["missing_since"] is None)

    assert found("h264_aac") == ["video/h264_aac.mp4"]
    (app.library / "video/h264_aac.mp4").rename(app.library / "video/Zyxwvü renamed.mp4")
    shutil.copy(app.library / "audio/plain.mp3", app.library / "audio/Qüetzal new.mp3")
    (app.library / "audio/pcm_s24le_mono.wav").unlink()
    assert scan(app.runtime).status == "completed"
    assert found("h264_aac") == []
    assert found("ZYXWVÜ") == ["video/Zyxwvü renamed.mp4"]
    assert found("qüetz") == ["audio/Qüetzal new.mp3"]
    assert found("pcm_s24le_mono") == []
    assert app.client.get("/api/tracks", params={"q": "pcm_s24le_mono"}).json()["total"] == 1


def test_a_search_matches_the_same_way_however_short(app: App) -> None:
    """One or two characters are matched with LIKE, longer ones through the trigram index.
    The short rule asked for "SS" and "FI" when given "ß" and "ﬁ" (their full upper case),
    so "aß" found "Glass" where "laß" did not: only one-letter case variants count."""

    def found(q: str) -> list[str]:
        items = app.client.get("/api/tracks", params={"q": q, "per_page": 500}).json()["items"]
        return sorted(t["relpath"] for t in items)

    shutil.copy(app.library / "audio/plain.mp3", app.library / "audio/Glass Fire.mp3")
    shutil.copy(app.library / "audio/plain.mp3", app.library / "audio/Straße ﬁn.mp3")
    assert scan(app.runtime).status == "completed"
    for q in ("ß", "aß", "laß", "ﬁ", "ﬁr", "ﬁre"):
        assert "audio/Glass Fire.mp3" not in found(q), q
    for q in ("ß", "ßE", "ﬁ", "ﬁn"):
        assert "audio/Straße ﬁn.mp3" in found(q), q
    assert "audio/Glass Fire.mp3" in found("ss")


def test_openapi_documents_the_cursor(app: App) -> None:
    spec = app.client.get("/openapi.json").json()
    names = {p["name"] for p in spec["paths"]["/api/tracks"]["get"]["parameters"]}
    assert {"cursor", "page", "per_page", "q", "sort", "order"} <= names
    page = spec["components"]["schemas"]["TrackPage"]["properties"]
    assert {"items", "total", "page", "per_page", "next_cursor", "prev_cursor"} <= set(page)


def test_tracks_page_links_pages_by_cursor_and_refuses_a_bad_one(app: App) -> None:
    first = app.client.get("/tracks", params={"per_page": 10})
    assert 'rel="next"' in first.text
    assert 'rel="prev"' not in first.text
    cursor = app.client.get("/api/tracks", params={"per_page": 10}).json()["next_cursor"]
    second = app.client.get("/tracks", params={"per_page": 10, "cursor": cursor})
    assert "Page 2 of 3" in second.text
    assert 'rel="prev"' in second.text
    bad = app.client.get("/tracks", params={"cursor": "nonsense"}, headers={"accept": "text/html"})
    assert bad.status_code == 422
    assert "cursor" in bad.text
