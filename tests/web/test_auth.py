"""API token (§11): every route but /healthz, /login and static needs it; sessions; throttle."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import func, select

from mediashelf.clock import FixedClock
from mediashelf.config import Settings
from mediashelf.db.schema import WebSession
from mediashelf.db.session import Database
from mediashelf.errors import ConfigError
from mediashelf.probe.pool import ProbePool
from mediashelf.runtime import Runtime
from mediashelf.web.app import create_app
from tests.conftest import make_runtime
from tests.web.conftest import BASE_URL, client_for, index_library

TOKEN = "s3cret-token-for-tests-0123456789"
BEARER = {"authorization": f"Bearer {TOKEN}"}
START = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FixedClock:
    """Time that moves only when a test says so (for session expiry)."""
    return FixedClock(START)


@pytest.fixture
def protected(
    database: Database, library: Path, probe_pool: ProbePool, clock: FixedClock
) -> Runtime:
    """A runtime over the scanned library whose settings carry TOKEN."""
    index_library(database, library, probe_pool)
    runtime = make_runtime(database, library, probe_pool, api_token=TOKEN)
    runtime.clock = clock
    return runtime


@pytest.fixture
def client(protected: Runtime) -> Iterator[TestClient]:
    """An app protected by TOKEN, called from its own origin."""
    with client_for(create_app(protected)) as test_client:
        yield test_client


def some_video_id(client: TestClient) -> str:
    """Return the id of a track that probes fine."""
    params: dict[str, str | int] = {"probe_status": "ok", "per_page": 1}
    items = client.get("/api/tracks", params=params, headers=BEARER).json()
    video_id: str = items["items"][0]["video_id"]
    return video_id


def log_in(client: TestClient, token: str = TOKEN) -> str:
    """Log in through the form and return the CSRF value the pages would echo."""
    response = client.post("/login", data={"token": token}, follow_redirects=False)
    assert response.status_code == 303, response.text
    csrf = client.cookies.get("mediashelf_csrf")
    assert csrf
    return csrf


def sessions_stored(database: Database) -> int:
    """Return how many page sessions the database holds."""
    with database.unit_of_work() as session:
        return session.scalar(select(func.count()).select_from(WebSession)) or 0


READS = ["/api/tracks", "/api/jobs", "/api/audit", "/metrics", "/openapi.json", "/docs"]


def test_reads_need_the_token(client: TestClient) -> None:
    for path in READS:
        refused = client.get(path)
        assert refused.status_code == 401, path
        assert refused.json()["status"] == "error"
        assert refused.headers["www-authenticate"] == "Bearer"
        assert client.get(path, headers=BEARER).status_code == 200


def test_pages_and_media_need_a_log_in(client: TestClient) -> None:
    video_id = some_video_id(client)
    page = client.get("/tracks?q=x", headers={"accept": "text/html"}, follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=/tracks%3Fq%3Dx"
    assert client.get(f"/media/{video_id}").status_code == 401
    assert client.get("/api/jobs/1/logs/job.log").status_code == 401
    log_in(client)
    assert client.get("/tracks", headers={"accept": "text/html"}).status_code == 200
    assert client.get(f"/media/{video_id}").status_code == 200


def test_open_paths_stay_open(client: TestClient) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/login").status_code == 200
    assert client.get("/static/app.css").status_code == 200


def test_public_read_opens_reads_only(protected: Runtime) -> None:
    runtime = make_runtime(protected.db, protected.settings.library, api_token=TOKEN,
                           public_read=True)  # fmt: skip
    with client_for(create_app(runtime)) as client:
        assert client.get("/api/tracks").status_code == 200
        assert client.get("/tracks").status_code == 200
        assert client.post("/api/jobs", json={"kind": "library_scan"}).status_code == 401


def test_mutations_need_the_token(client: TestClient) -> None:
    video_id = some_video_id(client)
    response = client.post(f"/api/track/{video_id}/rescan_media")
    assert response.status_code == 401
    assert response.json()["status"] == "error"
    wrong = {"authorization": "Bearer nope"}
    assert client.post("/api/jobs", json={"kind": "library_scan"}, headers=wrong).status_code == 401
    ok = client.post(f"/api/track/{video_id}/rescan_media", headers=BEARER)
    assert ok.status_code == 200


BAD_BEARERS = ["Bearer " + "é" * 30, "Bearer \u2603\u2603", "Bearer " + "x" * 200_000,
               "Bearer " + TOKEN + "\x7f", "bearer", "Basic dXNlcjpwYXNz"]  # fmt: skip
BAD_COOKIES = [b"\xc3\xa9\xff\xfe", b"a\x00b", b"x" * 100_000, b'"\\"']
BAD_FORM_TOKENS = ["é" * 40, "a\x00b" * 10, "x" * 500_000]


def test_any_bytes_in_a_credential_are_401(client: TestClient) -> None:
    change = {"kind": "library_scan"}
    for credential in BAD_BEARERS:
        raw = [(b"authorization", credential.encode("utf-8"))]
        assert client.get("/api/tracks", headers=raw).status_code == 401, credential[:20]
        assert client.post("/api/jobs", json=change, headers=raw).status_code == 401
    for cookie in BAD_COOKIES:
        raw = [(b"cookie", b"mediashelf_session=" + cookie), (b"x-csrf-token", b"\xe2\x98\x83")]
        assert client.get("/api/tracks", headers=raw).status_code == 401, cookie[:20]
        assert client.post("/api/jobs", json=change, headers=raw).status_code == 401
    for token in BAD_FORM_TOKENS:
        assert client.post("/login", data={"token": token}).status_code == 401, token[:20]


def test_page_session_needs_the_csrf_header(client: TestClient, database: Database) -> None:
    assert client.post("/login", data={"token": "wrong"}).status_code == 401
    login = client.post("/login", data={"token": TOKEN}, follow_redirects=False)
    assert login.status_code == 303
    cookies = login.headers.get_list("set-cookie")
    assert any("httponly" in c.lower() and "samesite=strict" in c.lower() for c in cookies)
    csrf = client.cookies.get("mediashelf_csrf")
    assert csrf
    assert sessions_stored(database) == 1
    video_id = some_video_id(client)
    no_header = client.post(f"/api/track/{video_id}/rescan_media")
    assert no_header.status_code == 403  # a cookie alone is what a forged request would carry
    assert "CSRF" in no_header.json()["error"]
    with_header = client.post(f"/api/track/{video_id}/rescan_media", headers={"x-csrf-token": csrf})
    assert with_header.status_code == 200


def test_log_out_ends_the_session_on_the_server(client: TestClient, database: Database) -> None:
    csrf = log_in(client)
    secret = client.cookies.get("mediashelf_session")
    assert secret
    assert client.post("/logout", follow_redirects=False).status_code == 303
    assert sessions_stored(database) == 0
    # A copy of the old cookie (stolen, or kept by another tab) opens nothing any more.
    replay = client_for(client.app, cookie=f"mediashelf_session={secret}")  # type: ignore[arg-type]
    assert replay.get("/api/jobs").status_code == 401
    response = replay.post("/api/jobs", json={"kind": "library_scan"},
                           headers={"x-csrf-token": csrf})  # fmt: skip
    assert response.status_code == 401


def test_sessions_expire_when_idle_and_at_the_absolute_limit(
    client: TestClient, clock: FixedClock, database: Database
) -> None:
    settings = Settings()
    log_in(client)
    clock.set(START + timedelta(seconds=settings.session_idle_s - 60))
    assert client.get("/api/jobs").status_code == 200  # used in time: the idle limit restarts
    clock.set(START + timedelta(seconds=2 * settings.session_idle_s - 120))
    assert client.get("/api/jobs").status_code == 200
    clock.set(START + timedelta(seconds=3 * settings.session_idle_s))
    assert client.get("/api/jobs").status_code == 401  # idle too long
    assert sessions_stored(database) == 0

    log_in(client)
    login_time = clock.now()
    step = timedelta(seconds=settings.session_idle_s / 2)
    while clock.now() + step < login_time + timedelta(seconds=settings.session_max_s):
        clock.set(clock.now() + step)
        assert client.get("/api/jobs").status_code == 200
    clock.set(login_time + timedelta(seconds=settings.session_max_s + 1))
    assert client.get("/api/jobs").status_code == 401  # used all along, but too old


def test_rotating_the_token_logs_everyone_out(protected: Runtime) -> None:
    with client_for(create_app(protected)) as client:
        log_in(client)
        secret = client.cookies.get("mediashelf_session")
        assert client.get("/api/jobs").status_code == 200
    rotated = make_runtime(protected.db, protected.settings.library,
                           api_token="another-token-entirely-0123456789")  # fmt: skip
    with client_for(create_app(rotated), cookie=f"mediashelf_session={secret}") as client:
        assert client.get("/api/jobs").status_code == 401


def test_failed_log_ins_are_throttled_per_client(
    client: TestClient, clock: FixedClock, protected: Runtime
) -> None:
    limit = protected.settings.login_failures_max
    for _ in range(limit):
        assert client.post("/login", data={"token": "guess"}).status_code == 401
    throttled = client.post("/login", data={"token": TOKEN})
    assert throttled.status_code == 429
    wait = int(throttled.headers["retry-after"])
    assert 0 < wait <= protected.settings.login_window_s
    assert throttled.json()["status"] == "error"
    clock.set(clock.now() + timedelta(seconds=wait))
    log_in(client)  # the window slid past the failures
    for _ in range(limit):  # and a success forgot them
        assert client.post("/login", data={"token": "guess"}).status_code == 401
    assert client.post("/login", data={"token": "guess"}).status_code == 429


def test_log_in_returns_to_the_page_asked_for(client: TestClient) -> None:
    response = client.post("/login", data={"token": TOKEN, "next": "/tracks?q=a"},
                           follow_redirects=False)  # fmt: skip
    assert response.headers["location"] == "/tracks?q=a"
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        client.cookies.clear()
        response = client.post("/login", data={"token": TOKEN, "next": target},
                               follow_redirects=False)  # fmt: skip
        assert response.headers["location"] == "/jobs"


def test_short_tokens_are_refused_when_building_the_app(database: Database) -> None:
    for token in ("x", "short-token-of-23-chars", "   "):
        runtime = Runtime(Settings(api_token=token, database_url=database.url), database)
        with pytest.raises(ConfigError, match=r"secrets\.token_urlsafe"):
            create_app(runtime)


def test_invalid_schedule_is_refused_with_the_parsers_message(database: Database) -> None:
    for expression, words in (("61 * * * *", "out of range"), ("0 0 31 2 *", "never fires"),
                              ("every day", "invalid cron")):  # fmt: skip
        with pytest.raises(ValidationError, match=words):  # refused before any app exists
            Settings(scan_schedule=expression, database_url=database.url)


def test_bearer_clients_need_no_origin(protected: Runtime) -> None:
    with TestClient(create_app(protected), base_url=BASE_URL) as bare:
        assert bare.post("/api/jobs", json={"kind": "library_scan"}).status_code == 403
        response = bare.post("/api/jobs", json={"kind": "library_scan"}, headers=BEARER)
        assert response.status_code == 201
