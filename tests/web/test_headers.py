"""Security headers on every response, and pages that need no inline script."""

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


@pytest.fixture
def open_app(tmp_path: Path) -> Iterator[FastAPI]:
    """A tokenless app over an empty SQLite database (nothing here depends on the dialect)."""
    database = Database(f"sqlite:///{tmp_path / 'headers.db'}")
    upgrade(database)
    app = create_app(Runtime(Settings(database_url=database.url, library=tmp_path), database))
    yield app
    database.dispose()


def client(app: FastAPI) -> TestClient:
    """A client on the loopback address."""
    return TestClient(app, base_url="http://127.0.0.1:8000")


@pytest.mark.parametrize(
    ("path", "status"),
    [("/tracks", 200), ("/api/tracks", 200), ("/static/app.css", 200), ("/static/js/api.js", 200),
     ("/nowhere", 404), ("/api/jobs/abc", 422), ("/healthz", 200), ("/openapi.json", 200),
     ("/docs", 200), ("/login", 200)],
)  # fmt: skip
def test_security_headers_on_every_response(open_app: FastAPI, path: str, status: int) -> None:
    response = client(open_app).get(path)
    assert response.status_code == status
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    assert response.headers["x-frame-options"] == "DENY"


def test_pages_have_no_inline_script(open_app: FastAPI) -> None:
    c = client(open_app)
    for path in ("/tracks", "/jobs", "/login", "/docs", "/nowhere"):
        html = c.get(path, headers={"accept": "text/html"}).text
        for tag in html.split("<script")[1:]:
            assert tag.split(">", 1)[0].strip().find("src=") >= 0, (path, tag[:80])
        assert " onclick=" not in html
        assert " onsubmit=" not in html
        assert "javascript:" not in html
