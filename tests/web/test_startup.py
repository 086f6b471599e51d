"""`mediashelf serve` refuses settings the web app must not run with, and says how to fix them."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from mediashelf.cli.exits import USAGE
from mediashelf.cli.main import app

runner = CliRunner()


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A minimal environment: a data folder of the test's own."""
    return {"MEDIASHELF_DATA_DIR": str(tmp_path), "MEDIASHELF_DATABASE_URL": "", **extra}


def test_serve_refuses_a_short_token_and_says_how_to_make_one(tmp_path: Path) -> None:
    result = runner.invoke(app, ["serve"], env=env_for(tmp_path, MEDIASHELF_API_TOKEN="tiny"))
    assert result.exit_code == USAGE
    assert "too short" in result.output
    assert "secrets.token_urlsafe(32)" in result.output


@pytest.mark.parametrize(
    ("token", "says"),
    [(" " * 30, "spaces or control characters"), ("a" * 40, "guessable"),
     ("ab" * 20, "guessable"), (" " + "x7Kp2QmZ9vRt4LwN8sYb3HcJ", "spaces or control characters"),
     ("x7Kp2QmZ9vRt\tLwN8sYb3HcJ6", "spaces or control characters")],
)  # fmt: skip
def test_serve_refuses_a_token_a_bearer_header_cannot_carry_or_anyone_could_guess(
    tmp_path: Path, token: str, says: str
) -> None:
    result = runner.invoke(app, ["serve"], env=env_for(tmp_path, MEDIASHELF_API_TOKEN=token))
    assert result.exit_code == USAGE, result.output
    assert says in result.output
    assert "secrets.token_urlsafe(32)" in result.output


def test_serve_refuses_an_invalid_schedule_with_the_parsers_message(tmp_path: Path) -> None:
    env = env_for(tmp_path, MEDIASHELF_SCAN_SCHEDULE="61 * * * *")
    result = runner.invoke(app, ["serve"], env=env)
    assert result.exit_code == USAGE
    assert "MEDIASHELF_SCAN_SCHEDULE" in result.output
    assert "out of range" in result.output
