"""docs/operations.md names only settings, commands and endpoints that exist."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer

from mediashelf.cli.main import app
from mediashelf.config import Settings
from mediashelf.doctor import WEB_SETTINGS
from mediashelf.runtime import Runtime
from mediashelf.web.app import create_app

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
FENCE = re.compile(r"```.*?```", re.DOTALL)
SPAN = re.compile(r"`([^`\n]+)`")
COMMAND = re.compile(r"(?:^|[\s(])mediashelf ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?", re.MULTILINE)
ENDPOINT = re.compile(r"\b(GET|POST|PUT|PATCH|DELETE|HEAD) (/[^\s`),;]*)")


def code(text: str) -> str:
    """Return the code in `text`: fenced blocks and inline spans, one per line."""
    blocks = FENCE.findall(text)
    spans = SPAN.findall(FENCE.sub("", text))
    return "\n".join(blocks + spans)


@pytest.fixture(scope="module")
def doc() -> str:
    """The operations guide."""
    return DOC.read_text(encoding="utf-8")


def test_settings_exist(doc: str) -> None:
    names = set(re.findall(r"MEDIASHELF_([A-Z0-9_]+)", doc))
    assert len(names) > 15
    unknown = {n for n in names if n.lower() not in Settings.model_fields}
    # The web layer's settings are documented as "where the settings exist" (doctor: getattr).
    assert unknown <= {n.upper() for n in WEB_SETTINGS}, unknown


def test_commands_exist(doc: str) -> None:
    root = typer.main.get_command(app)
    top: dict[str, Any] = getattr(root, "commands", {})
    found = COMMAND.findall(code(doc))
    assert len(found) > 10
    for name, sub in found:
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
    found = ENDPOINT.findall(doc)
    assert len(found) >= 4
    for method, path in found:
        wanted = re.sub(r"\{[^}]*\}", "{}", path.split("?")[0])
        assert (method, wanted) in routes, f"{method} {path}"


def test_links_resolve(doc: str) -> None:
    for target in re.findall(r"\]\(([^)#]+)\)", doc):
        if "://" not in target:
            assert (DOC.parent / target).exists(), target
