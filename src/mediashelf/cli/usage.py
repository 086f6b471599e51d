"""Bad usage under `--json`: one JSON object on stdout, as for every other failure (DESIGN §9).

Typer reports a usage error (an unknown option, a value of the wrong type, a missing
argument) in a box on stderr and exits 2, before any command runs, so a script reading
`mediashelf jobs show abc --json` got nothing on stdout. With `--json`, the top-level group
here also prints `{"status": "error", "error": …, "usage": …}` on stdout (the usage line
when the parser knows the command); the box on stderr and the exit code stay as they were.
"""

from __future__ import annotations

import json
from typing import Any

# typer (0.28) parses with its own copy of click and exports neither class
from typer._click import Context
from typer._click.exceptions import ClickException
from typer.core import TyperGroup

JSON_FLAG = "--json"
_WANTS_JSON = "mediashelf.json_errors"


class JsonUsageErrors(TyperGroup):
    """The `mediashelf` group: a usage error is also one JSON object when `--json` is given."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: Context | None = None,
        **extra: Any,
    ) -> Context:
        """Parse the top-level arguments; remember whether the command line asked for JSON."""
        wants_json = JSON_FLAG in args
        try:
            ctx = super().make_context(info_name, args, parent, **extra)
        except ClickException as exc:
            _print_json(exc, wants_json)
            raise
        ctx.meta[_WANTS_JSON] = wants_json
        return ctx

    def invoke(self, ctx: Context) -> Any:
        """Run the sub-command; its usage errors (parsed here) also print JSON when asked."""
        try:
            return super().invoke(ctx)
        except ClickException as exc:
            _print_json(exc, bool(ctx.meta.get(_WANTS_JSON)))
            raise


def _print_json(exc: ClickException, wants_json: bool) -> None:
    if not wants_json:
        return
    from mediashelf.cli.wiring import out

    body = {"status": "error", "error": exc.format_message()}
    ctx: Context | None = getattr(exc, "ctx", None)
    if ctx is not None:  # the parser knows which command it was reading (not always)
        body["usage"] = ctx.get_usage().strip()
    out.print_json(json.dumps(body))
