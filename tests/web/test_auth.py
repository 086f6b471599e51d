"""API token (§11): mutations need the bearer token or a page session with its CSRF header."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from mediashelf.db.session import Database
from mediashelf.probe.pool import ProbePool
from mediashelf.web.app import create_app
from tests.conftest import make_runtime
from tests.web.conftest import index_library

TOKEN = "s3cret-token-for-tests"


@pytest.fixture
def client(database: Database, library: Path, probe_pool: ProbePool) -> Iterator[TestClient]:
    """An app protected by TOKEN."""
    index_library(database, library, probe_pool)
    runtime = make_runtime(database, library, probe_pool, api_token=TOKEN)
    with TestClient(create_app(runtime)) as test_client:
        yield test_client


def some_video_id(client: TestClient) -> str:
    """Return the id of a track that probes fine."""
    items = client.get("/api/tracks", params={"probe_status": "ok", "per_page": 1}).json()
    video_id: str = items["items"][0]["video_id"]
    return video_id


def test_reads_stay_open(client: TestClient) -> None:
    assert client.get("/api/tracks").status_code == 200
    assert client.get("/tracks").status_code == 200
    assert client.get("/api/jobs").status_code == 200


def test_mutations_without_credentials_are_401(client: TestClient) -> None:
    video_id = some_video_id(client)
    response = client.post(f"/api/track/{video_id}/rescan_media")
    assert response.status_code == 401
    assert response.json()["status"] == "error"
    assert client.post("/api/jobs", json={"kind": "library_scan"}).status_code == 401
    wrong = {"authorization": "Bearer nope"}
    assert client.post("/api/jobs", json={"kind": "library_scan"}, headers=wrong).status_code == 401


def test_bearer_token_allows_mutations(client: TestClient) -> None:
    video_id = some_video_id(client)
    headers = {"authorization": f"Bearer {TOKEN}"}
    assert client.post(f"/api/track/{video_id}/rescan_media", headers=headers).status_code == 200


def test_page_session_needs_the_csrf_header(client: TestClient) -> None:
    assert client.post("/login", data={"token": "wrong"}).status_code == 401
    login = client.post("/login", data={"token": TOKEN}, follow_redirects=False)
    assert login.status_code == 303
    session_cookie = login.headers.get_list("set-cookie")
    assert any("httponly" in c.lower() and "samesite=strict" in c.lower() for c in session_cookie)
    csrf = client.cookies.get("mediashelf_csrf")
    assert csrf
    video_id = some_video_id(client)
    no_header = client.post(f"/api/track/{video_id}/rescan_media")
    assert no_header.status_code == 401  # a cookie alone is what a forged request would carry
    with_header = client.post(f"/api/track/{video_id}/rescan_media", headers={"x-csrf-token": csrf})
    assert with_header.status_code == 200
    client.post("/logout")
    after = client.post(f"/api/track/{video_id}/rescan_media", headers={"x-csrf-token": csrf})
    assert after.status_code == 401
