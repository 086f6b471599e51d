"""The docs name only modules, files, settings, commands and endpoints that exist."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

import pytest
import typer

from mediashelf.cli.main import app
from mediashelf.config import Settings
from mediashelf.runtime import Runtime
from mediashelf.web.app import create_app

REPO = Path(__file__).resolve().parents[2]
DOCS = ("docs/operations.md", "docs/architecture.md", "docs/jobs.md")
MODULE = re.compile(r"(?<![/\w-])mediashelf(?:\.[a-z_]+)+(?![\w.-])")
UNITS = {"mediashelf.service"}  # systemd unit names, not modules
SOURCE_PATH = re.compile(r"`((?:[a-z_]+/)+[a-z_0-9]*\.?[a-z]*)`")
FENCE = re.compile(r"```.*?```", re.DOTALL)
SPAN = re.compile(r"`([^`\n]+)`")
COMMAND = re.compile(r"(?:^|[\s(])mediashelf ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?", re.MULTILINE)
ENDPOINT = re.compile(r"\b(GET|POST|PUT|PATCH|DELETE|HEAD) (/[^\s`),;]*)")


def code(text: str) -> str:
    """Return the code in `text`: fenced blocks and inline spans, one per line."""
    blocks = FENCE.findall(text)
    spans = SPAN.findall(FENCE.sub("", text))
    return "\n".join(blocks + spans)


@pytest.fixture(params=DOCS, scope="module")
def doc_path(request: pytest.FixtureRequest) -> Path:
    """Each document in turn."""
    return REPO / str(request.param)


@pytest.fixture(scope="module")
def doc(doc_path: Path) -> str:
    """The document's text."""
    return doc_path.read_text(encoding="utf-8")


def test_settings_exist(doc: str) -> None:
    names = set(re.findall(r"MEDIASHELF_([A-Z0-9_]+)", doc))
    unknown = {n for n in names if n.lower() not in Settings.model_fields}
    assert not unknown - {"TEST_STRICT", "TEST_DATABASE_URL"}, unknown


def test_commands_exist(doc: str) -> None:
    root = typer.main.get_command(app)
    top: dict[str, Any] = getattr(root, "commands", {})
    for name, sub in COMMAND.findall(code(doc)):
        command = top.get(name)
        assert command is not None, f"mediashelf {name}"
        groups: dict[str, Any] | None = getattr(command, "commands", None)
        if groups is not None:  # db, jobs: the sub-command must exist too
            assert sub in groups, f"mediashelf {name} {sub}"


def test_endpoints_exist(doc: str, tmp_path: Path) -> None:
    web = create_app(Runtime.from_settings(Settings(data_dir=tmp_path)))
    routes = {  # the documented API: every JSON route is in the OpenAPI schema
        (method.upper(), re.sub(r"\{[^}]*\}", "{}", path))
        for path, methods in web.openapi()["paths"].items()
        for method in methods
    }
    for method, path in ENDPOINT.findall(doc):
        wanted = re.sub(r"\{[^}]*\}", "{}", path.split("?")[0])
        assert (method, wanted) in routes, f"{method} {path}"


def test_links_resolve(doc: str, doc_path: Path) -> None:
    for target in re.findall(r"\]\(([^)#]+)\)", doc):
        if "://" not in target:
            assert (doc_path.parent / target).exists(), target


def test_modules_and_files_exist(doc: str) -> None:
    for name in set(MODULE.findall(doc)) - UNITS:
        assert importlib.util.find_spec(name) is not None, name
    for path in set(SOURCE_PATH.findall(doc)):
        places = [REPO / path, REPO / "src" / "mediashelf" / path]
        places.append(REPO / "src" / "mediashelf" / "library" / path)  # library's sub-packages
        assert any(place.exists() for place in places), path


def test_every_document_is_checked_and_names_things() -> None:
    texts = [(REPO / name).read_text(encoding="utf-8") for name in DOCS]
    assert sum(len(MODULE.findall(text)) for text in texts) > 10
    assert sum(len(re.findall(r"MEDIASHELF_[A-Z0-9_]+", text)) for text in texts) > 20
    assert sum(len(ENDPOINT.findall(text)) for text in texts) > 10
