"""`mediashelf --help` stays quick: the command-line front imports none of the heavy parts."""

from __future__ import annotations

import gc
import json
import subprocess
import sys

import pytest

HEAVY = ("sqlalchemy", "alembic", "av", "fastapi", "starlette", "pydantic", "pebble", "uvicorn")


def _loaded_by(module: str) -> set[str]:
    """Return the top-level packages a fresh interpreter holds after importing `module`."""
    code = (
        f"import json, sys; import {module}; "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)  # fmt: skip
    return set(json.loads(done.stdout))


def test_the_cli_front_imports_no_heavy_module() -> None:
    loaded = _loaded_by("mediashelf.cli.main")
    assert not [name for name in HEAVY if name in loaded]


def test_the_runtime_leaves_watch_mode_and_libav_to_who_needs_them() -> None:
    """A scan builds the runtime: watchfiles (watch mode) and libav (pool processes) wait."""
    loaded = _loaded_by("mediashelf.runtime")
    assert "sqlalchemy" in loaded  # the runtime itself is loaded
    assert not {"watchfiles", "anyio", "av", "fastapi", "uvicorn"} & loaded


def test_help_lists_every_command() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "mediashelf.cli", "--help"], capture_output=True, text=True,
        check=True,
    ).stdout  # fmt: skip
    for command in ("serve", "worker", "scan", "verify", "rescan", "jobs", "problems", "db",
                    "doctor", "demo"):  # fmt: skip
        assert command in shown


def test_the_entry_point_collects_garbage_only_after_the_imports(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import mediashelf.cli.main
    from mediashelf.cli import startup

    seen: list[bool] = []

    def command() -> None:
        seen.append(gc.isenabled())
        startup.imports_done()
        seen.append(gc.isenabled())
        startup.imports_done()  # a second call changes nothing
        seen.append(gc.isenabled())

    monkeypatch.setattr(mediashelf.cli.main, "app", command)
    try:
        startup.main()
    finally:
        gc.unfreeze()
        gc.enable()
    assert seen == [False, True, True]


def test_imports_done_leaves_collection_alone_outside_the_entry_point() -> None:
    from mediashelf.cli import startup

    gc.disable()
    try:
        startup.imports_done()
        assert not gc.isenabled()  # only what the entry point paused is resumed
    finally:
        gc.enable()
