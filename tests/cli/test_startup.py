"""`mediashelf --help` stays quick: the command-line front imports none of the heavy parts."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("sqlalchemy", "alembic", "av", "fastapi", "starlette", "pydantic", "pebble", "uvicorn")


def test_the_cli_front_imports_no_heavy_module() -> None:
    code = (
        "import json, sys; import mediashelf.cli.main; "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True,
                                       text=True, check=True).stdout)  # fmt: skip
    assert not [name for name in HEAVY if name in loaded]


def test_help_lists_every_command() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "mediashelf.cli", "--help"], capture_output=True, text=True,
        check=True,
    ).stdout  # fmt: skip
    for command in ("serve", "worker", "scan", "verify", "rescan", "jobs", "problems", "db",
                    "doctor", "demo"):  # fmt: skip
        assert command in shown
