"""The progress bar a job command draws on the terminal, from its first moment to the summary.

The bar appears as soon as the command has parsed its arguments, in the `starting` phase,
while the database layer is imported, the schema checked and the probe pool started (about
half a second on a warm machine): a user sees at once that the scan is under way, and the
same bar then follows the job. Only rich (and the CLI's wiring, loaded already) is imported
here, so drawing it costs nothing of that start. What a job waits for (its progress `note`)
is shown after the counts. A command that fails before its job exists leaves no bar behind,
only its error.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn

from mediashelf.cli.wiring import printable
from mediashelf.jobs.states import ACTIVE


class JobProgress:
    """A one-line bar of a job's phase, counts, rate and ETA (drawn nowhere when `quiet`)."""

    def __init__(self, console: Console, quiet: bool = False) -> None:
        columns = (
            # The fields come from the job's progress document: data, never markup (and the
            # note, which may hold a file name, has its control characters escaped).
            TextColumn("{task.fields[phase]:>8}", style="bold", markup=False),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]} files/s  ETA {task.fields[eta]}", markup=False),
            TextColumn("{task.fields[note]}", style="yellow", markup=False),
        )
        self.drawn = not quiet
        self._bar = Progress(*columns, console=console, transient=False, disable=quiet)
        self._task: TaskID | None = None
        self._followed = False

    def __enter__(self) -> JobProgress:
        self._bar.__enter__()
        self._task = self._bar.add_task(
            "job", total=None, phase="starting", rate="-", eta="-", note=""
        )
        return self

    def show(self, status: str, progress: Mapping[str, Any] | None) -> None:
        """Draw a job's state: its `progress` document, or its status while it has none."""
        assert self._task is not None, "show() outside the `with` block"
        self._followed = True
        p = progress or {}
        eta = p.get("eta_s") if status in ACTIVE else None  # an ended job's last ETA is past
        # What an ended job waited for is past: its summary follows the bar.
        note = (p.get("note") or "") if status in ACTIVE else ""
        self._bar.update(
            self._task, total=p.get("total") or None, completed=p.get("processed", 0),
            phase=p.get("phase", status), rate=p.get("rate", "-"),
            eta="-" if eta is None else f"{eta}s", note=printable(str(note)),
        )  # fmt: skip

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._followed:
            self._bar.__exit__(exc_type, exc, traceback)
        elif self.drawn:  # no job was shown: erase the `starting` line, add no empty one
            self._bar.live.transient = True
            self._bar.live.stop()  # (Progress.stop ends a log that is not a terminal with one)
