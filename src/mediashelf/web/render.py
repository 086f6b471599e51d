"""Jinja2 set-up for the pages, with the formatting filters every page uses."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi.templating import Jinja2Templates

from mediashelf.library.problems.classes import problem_class

TEMPLATES = Jinja2Templates(directory=Path(__file__).with_name("templates"))


def duration(value: float | None) -> str:
    """Return seconds as h:mm:ss (or m:ss.s for short clips); "-" when unknown."""
    if value is None:
        return "-"
    whole = int(value)
    hours, rest = divmod(whole, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{seconds:02d}"
    return f"{minutes}:{value - minutes * 60:04.1f}"


def size(value: int | None) -> str:
    """Return bytes in binary units; "-" when unknown."""
    if value is None:
        return "-"
    amount = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if amount < 1024 or unit == "TiB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return "-"


def bitrate(value: int | None) -> str:
    """Return bit/s as kb/s or Mb/s; "-" when unknown."""
    if value is None:
        return "-"
    if value >= 10_000_000:
        return f"{value / 1_000_000:.1f} Mb/s"
    return f"{value / 1000:.0f} kb/s"


def dash(value: object) -> str:
    """Return the value as text ("yes"/"no" for booleans), or "-" when unknown."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "-" if value is None or value == "" else str(value)


def when(value: datetime | None) -> str:
    """Return a UTC timestamp as "YYYY-MM-DD HH:MM:SS"."""
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M:%S")


def job_rate(job: Any) -> str:
    """Return files checked per second: the job's own figure, else processed / duration."""
    progress = job.progress or {}
    rate = progress.get("rate")
    if not isinstance(rate, int | float) or rate <= 0:
        processed, seconds = progress.get("processed") or 0, job.duration_s or 0
        done = job.status in ("completed", "failed", "cancelled")
        rate = processed / seconds if done and processed and seconds > 0 else None
    if rate is None:
        return "-"
    return f"{rate:.1f}" if rate < 10 else f"{rate:.0f}"


def problem_class_of(track: Any) -> str | None:
    """Return the track's class in the problems view, or None when it has no problem."""
    return problem_class(
        track.probe_status, track.probe_error_class, track.probe_failures, track.decode_errors
    )


def query(params: dict[str, object], **changes: object) -> str:
    """Return `?…` for `params` with `changes` applied (None drops a key)."""
    merged = {**params, **changes}
    kept = {k: v for k, v in merged.items() if v not in (None, "")}
    return "?" + urlencode(kept) if kept else "?"


TEMPLATES.env.filters.update(duration=duration, size=size, bitrate=bitrate, dash=dash, when=when)
TEMPLATES.env.globals.update(
    query=query,
    problem_class_of=problem_class_of,
    job_rate=job_rate,
    formatters={"duration": duration, "size": size, "bitrate": bitrate, "dash": dash, "when": when},
)
