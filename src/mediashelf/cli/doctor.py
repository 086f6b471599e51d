"""`mediashelf doctor`: the installation's checks, one line each, with the fix."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape

from mediashelf.cli.exits import FAILED, OK
from mediashelf.cli.wiring import load_settings, out
from mediashelf.errors import ConfigError

COLOURS = {"ok": "green", "warning": "yellow", "error": "red"}


def doctor(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Check the library, database, disk, probers, watch mode and exposure; explain fixes."""
    from mediashelf.doctor import Check, Report, diagnose

    try:
        report = diagnose(load_settings())
    except ConfigError as exc:  # the settings themselves are the problem
        report = Report([Check("settings", "error", exc.message, "Fix the named variable.")])
    if as_json:
        out.print_json(json.dumps(report.as_json()))
    else:
        for check in report.checks:
            colour = COLOURS[check.status]
            line = f"[{colour}]{check.status:<7}[/{colour}] {check.name:<9} {escape(check.message)}"
            out.print(line, markup=True, highlight=False, soft_wrap=True)
            if check.fix:
                out.print(f"{'':17} fix: {escape(check.fix)}", markup=True, highlight=False,
                          soft_wrap=True)  # fmt: skip
    raise typer.Exit(OK if report.ok else FAILED)
