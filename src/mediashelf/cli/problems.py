"""`mediashelf problems`: failing tracks by class; retry one or a class; lift a quarantine."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from typer._click.core import ParameterSource  # typer 0.28's own click (see usage.py)
from typer._click.exceptions import UsageError

from mediashelf.cli.wiring import TAKES_IDS, JsonFlag, fail, opened_runtime, out, printable
from mediashelf.errors import InvalidInput

app = typer.Typer(
    rich_markup_mode=None,
    help="Tracks that failed, are quarantined, missing or do not decode cleanly.",
)
ClassOption = Annotated[str | None, typer.Option("--class", help="Only this problem class.")]
PathOption = Annotated[str | None, typer.Option(help="Only this sub-folder.")]


@app.callback(invoke_without_command=True)
def problems(
    ctx: typer.Context,
    problem_class: ClassOption = None,
    path: PathOption = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    offset: Annotated[int, typer.Option(min=0, max=2**31 - 1)] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List problem tracks grouped by class, with counts."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.table import Table
    from rich.text import Text

    from mediashelf.library.problems.service import list_problems
    from mediashelf.web.schemas import ProblemPageOut

    with (
        opened_runtime({} if as_json else None, indexed_only=True) as runtime,
        runtime.db.unit_of_work() as s,
    ):
        page = ProblemPageOut.of(list_problems(s, problem_class, path, limit, offset), limit,
                                 offset)  # fmt: skip
    if as_json:
        out.print_json(page.model_dump_json())
        return
    counts = ", ".join(f"{name} {count}" for name, count in sorted(page.counts.items()))
    out.print(f"{sum(page.counts.values())} problems: {counts or 'none'}", highlight=False)
    table = Table("class", "track", "relpath", "message", "last tried")
    for item in page.items:
        tried = item.last_tried.strftime("%Y-%m-%d %H:%M") if item.last_tried else "-"
        cells = (item.relpath, item.message or "-")
        table.add_row(
            item.problem_class, item.video_id, *(Text(printable(c)) for c in cells), tried
        )
    if page.items:
        out.print(table)


def given_before(ctx: typer.Context, takes: tuple[str, ...]) -> dict[str, Any]:
    """Return the list's options given before the sub-command (`problems --json retry ID`).

    They were accepted and ignored: a script asking for JSON got text, and `problems --class
    corrupt retry` refused for want of a class. Those the sub-command takes apply to it
    (its own value wins); any other is a usage error, as on the sub-command itself.
    """
    parent = ctx.parent
    if parent is None:
        return {}
    given = {name: value for name, value in parent.params.items()
             if parent.get_parameter_source(name) is not ParameterSource.DEFAULT}  # fmt: skip
    stray = sorted(set(given) - set(takes))
    if stray:
        flags = {param.name: param.opts[0] for param in parent.command.params}
        names = ", ".join(flags.get(name, name) for name in stray)
        raise UsageError(f"{names} only applies to the problem list, not to "
                         f"`problems {ctx.info_name}`.", ctx)  # fmt: skip
    return given


@app.command("retry", context_settings=TAKES_IDS)
def retry(
    ctx: typer.Context,
    video_id: Annotated[str | None, typer.Argument(help="One track to look at again.")] = None,
    problem_class: ClassOption = None,
    path: PathOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Enqueue a job that looks at one track, or a whole class, again (see /jobs)."""
    from mediashelf.library.problems.service import retry_class, retry_track

    before = given_before(ctx, ("problem_class", "path", "as_json"))
    problem_class = problem_class or before.get("problem_class")
    path = path or before.get("path")
    as_json = as_json or bool(before.get("as_json"))
    json_errors = {"video_id": video_id, "class": problem_class} if as_json else None
    if (video_id is None) == (problem_class is None):
        raise fail(InvalidInput("give either a VIDEO_ID or --class"), json_errors)
    from mediashelf.cli.follow import workers_alive

    with opened_runtime(json_errors, indexed_only=True) as runtime:
        with runtime.db.unit_of_work() as session:
            if video_id is not None:
                request = retry_track(session, runtime.registry, runtime.clock, video_id,
                                      trigger="cli", actor="cli",
                                      root=runtime.settings.library)  # fmt: skip
            else:
                assert problem_class is not None
                request = retry_class(session, runtime.registry, runtime.clock, problem_class,
                                      path, trigger="cli", actor="cli")  # fmt: skip
        running = workers_alive(runtime)
    if as_json:
        body = {"job_id": request.job_id, "joined": request.joined, "workers_alive": running}
        out.print_json(json.dumps(body))
        return
    verb = "Joined the active" if request.joined else "Queued"
    out.print(f"{verb} job {request.job_id}; follow it with `mediashelf jobs logs "
              f"{request.job_id} --follow`.")  # fmt: skip
    if not running:
        out.print("No worker is running: it starts when `mediashelf worker` or `mediashelf "
                  "serve` runs.")  # fmt: skip


@app.command("release", context_settings=TAKES_IDS)
def release(ctx: typer.Context, video_id: str, as_json: JsonFlag = False) -> None:
    """Lift a track's quarantine so the next scan probes it again."""
    from mediashelf.library.problems.service import release_track

    before = given_before(ctx, ("as_json",))
    as_json = as_json or bool(before.get("as_json"))
    json_errors = {"video_id": video_id} if as_json else None
    with (
        opened_runtime(json_errors, indexed_only=True) as runtime,
        runtime.db.unit_of_work() as session,
    ):
        release_track(session, runtime.clock, video_id, actor="cli")
    if as_json:
        out.print_json(json.dumps({"status": "released", "video_id": video_id}))
    else:
        out.print(f"{video_id}: released; the next scan probes it again")
