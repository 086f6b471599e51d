"""Home-network guards: the Host allow-list and same-origin state changes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mediashelf.config import Settings
from mediashelf.db.migrate import upgrade
from mediashelf.db.session import Database
from mediashelf.runtime import Runtime
from mediashelf.web.app import create_app
from mediashelf.web.hosts import allowed_hosts, host_name
from mediashelf.web.origin import same_origin

TOKEN = "guards-token-0123456789-abcdef"
CHANGE = ("/api/jobs", {"kind": "library_scan"})
CHANGES = [("POST", "/api/jobs"), ("POST", "/api/jobs/1/cancel"), ("POST", "/api/jobs/1/retry"),
           ("POST", "/api/track/abcdefgh/rescan_media"), ("POST", "/login"), ("POST", "/logout"),
           ("POST", "/api/problems/retry"), ("POST", "/api/problems/verify"),
           ("POST", "/api/track/abcdefgh/release"),
           ("DELETE", "/api/jobs"), ("PUT", "/api/jobs"), ("PATCH", "/api/jobs/1")]  # fmt: skip


def build(tmp_path: Path, **settings: object) -> FastAPI:
    """An app over an empty SQLite database (nothing here depends on the dialect)."""
    (tmp_path / "library").mkdir(parents=True)
    database = Database(f"sqlite:///{tmp_path / 'guards.db'}")
    upgrade(database)
    config = Settings(database_url=database.url, library=tmp_path / "library", **settings)  # type: ignore[arg-type]
    return create_app(Runtime(config, database))


@pytest.fixture
def open_app(tmp_path: Path) -> Iterator[FastAPI]:
    """A tokenless app on loopback (the default install)."""
    app = build(tmp_path)
    yield app
    app.state.runtime.close()


def client(app: FastAPI, base_url: str = "http://127.0.0.1:8000", **headers: str) -> TestClient:
    """A client with no Origin unless given."""
    return TestClient(app, base_url=base_url, headers=headers)


@pytest.mark.parametrize(
    "host", ["localhost", "localhost:8000", "127.0.0.1:8000", "[::1]:8000", "LOCALHOST.", "::1"]
)
def test_loopback_names_are_served(open_app: FastAPI, host: str) -> None:
    assert client(open_app).get("/healthz", headers={"host": host}).status_code == 200


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:8000", "127.0.0.1.evil.example", "192.168.1.20:8000",
             "[::2]:8000", "", "localhost@evil.example", "127.0.0.1:8000@evil.example",
             "localhost:80/x", "local host", "localhost:99999999", "[::1"],
)  # fmt: skip
def test_foreign_hosts_are_400(open_app: FastAPI, host: str) -> None:
    c = client(open_app)
    for path in ("/healthz", "/api/tracks", "/tracks", "/static/app.css"):
        response = c.get(path, headers={"host": host, "accept": "application/json"})
        assert response.status_code == 400, path
        assert "MEDIASHELF_ALLOWED_HOSTS" in response.json()["error"]
        assert response.headers["x-frame-options"] == "DENY"


def test_allowed_hosts_add_names_and_the_bind_address(tmp_path: Path) -> None:
    app = build(tmp_path, host="192.168.1.20",
                allowed_hosts="media.home.arpa, Media.Example:443,[fd00::5]")  # fmt: skip
    c = client(app)
    for host in ("media.home.arpa", "media.example", "media.example:8443", "[fd00::5]:80",
                 "192.168.1.20:8000", "localhost:8000"):  # fmt: skip
        assert c.get("/healthz", headers={"host": host}).status_code == 200, host
    assert c.get("/healthz", headers={"host": "other.home.arpa"}).status_code == 400
    assert allowed_hosts(app.state.runtime.settings) >= {"media.example", "fd00::5"}
    app.state.runtime.close()


def test_host_name_parsing() -> None:
    assert host_name("Example.COM.:8443") == "example.com"
    assert host_name("[::1]:80") == "::1"
    assert host_name("[::1") == ""  # not a host: no allow-list holds ""
    assert host_name("fe80::1") == "fe80::1"
    assert host_name("127.0.0.1:18741@evil") == ""


@pytest.mark.parametrize(
    ("url", "host", "same"),
    [
        ("http://127.0.0.1:8000", "127.0.0.1:8000", True),
        ("http://127.0.0.1:8000/jobs?x=1", "127.0.0.1:8000", True),
        ("https://media.example", "media.example", True),
        ("https://media.example:443", "media.example", True),
        ("https://media.example:8443", "media.example:8443", True),
        ("http://[::1]:8000", "[::1]:8000", True),
        ("http://LOCALHOST:8000", "localhost:8000", True),
        ("http://127.0.0.1:9000", "127.0.0.1:8000", False),
        ("https://media.example:8443", "media.example", False),
        ("http://evil.example", "127.0.0.1:8000", False),
        ("http://127.0.0.1.evil.example:8000", "127.0.0.1:8000", False),
        ("null", "127.0.0.1:8000", False),
        ("file://", "127.0.0.1:8000", False),
        ("http://127.0.0.1:99999", "127.0.0.1:99999", False),
        ("", "127.0.0.1:8000", False),
        ("http://evil.example@127.0.0.1:8000", "127.0.0.1:8000", False),  # user info
    ],
)
def test_same_origin(url: str, host: str, same: bool) -> None:
    assert same_origin(url, host) is same


def test_changes_from_the_service_itself_are_accepted(open_app: FastAPI) -> None:
    same = client(open_app, origin="http://127.0.0.1:8000")
    assert same.post(CHANGE[0], json=CHANGE[1]).status_code == 201
    referer = client(open_app, referer="http://127.0.0.1:8000/jobs")
    assert referer.post("/api/jobs/1/cancel").status_code == 200
    fetched = client(open_app, origin="http://127.0.0.1:8000", **{"sec-fetch-site": "same-origin"})
    assert fetched.post("/api/jobs/1/cancel").status_code == 409  # let in: it is cancelled


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "http://evil.example"},
        {"origin": "null"},
        {"origin": "http://127.0.0.1:9000"},
        {"origin": "http://evil.example", "referer": "http://127.0.0.1:8000/jobs"},
        {"referer": "http://evil.example/page"},
        {"origin": "http://127.0.0.1:8000", "sec-fetch-site": "cross-site"},
        {"origin": "http://127.0.0.1:8000", "sec-fetch-site": "same-site"},
    ],
)
def test_cross_site_changes_are_403_token_or_not(tmp_path: Path, headers: dict[str, str]) -> None:
    for app in (build(tmp_path / "open"), build(tmp_path / "token", api_token=TOKEN)):
        c = client(app, **headers)
        for method, path in CHANGES:
            response = c.request(method, path, json={"kind": "library_scan"})
            assert response.status_code == 403, (method, path)
            assert "Cross-site" in response.json()["error"]
        app.state.runtime.close()


def test_changes_without_origin_or_referer_need_the_token(tmp_path: Path) -> None:
    bare = client(build(tmp_path / "open"))
    refused = bare.post(CHANGE[0], json=CHANGE[1])
    assert refused.status_code == 403
    assert "Origin" in refused.json()["error"]
    assert "Bearer" in refused.json()["error"]
    protected = client(build(tmp_path / "token", api_token=TOKEN))
    assert protected.post(CHANGE[0], json=CHANGE[1]).status_code == 403
    bearer = {"authorization": f"Bearer {TOKEN}"}
    assert protected.post(CHANGE[0], json=CHANGE[1], headers=bearer).status_code == 201
    # The token also lets a script post from anywhere: it is the credential, not the page.
    elsewhere = {**bearer, "origin": "http://evil.example"}
    assert protected.post("/api/jobs/1/cancel", headers=elsewhere).status_code == 200


def test_reads_need_no_origin(open_app: FastAPI) -> None:
    c = client(open_app, origin="http://evil.example")
    assert c.get("/api/jobs").status_code == 200  # the browser keeps the answer from that page


def test_refusals_carry_the_headers_too(open_app: FastAPI) -> None:
    for response in (
        client(open_app).post(CHANGE[0], json=CHANGE[1]),
        client(open_app).get("/healthz", headers={"host": "evil.example"}),
        client(open_app, origin="http://127.0.0.1:8000").post(
            "/api/jobs", content=b"x" * (2 << 20), headers={"content-type": "application/json"}
        ),
    ):
        assert response.status_code in (400, 403, 413)
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
