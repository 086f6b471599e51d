"""What a failed attempt tells people: a class and one line, never the internals.

Job `summary`, `error` and `errors` are shown by the API, the pages and the CLI. They carry the
error's class and a one-line message written for a user; SQL statements, parameters,
tracebacks and absolute server paths go to the job log (debug level) and the server log.
"""

from __future__ import annotations

import re
import traceback
from datetime import datetime
from pathlib import PurePath
from typing import Any

from sqlalchemy import exc as sa_exc

from mediashelf.db.outage import describe
from mediashelf.errors import MediashelfError

MAX_TEXT = 4096  # stored error texts; the whole text is in the job log
MAX_DETAIL = 65_536  # a traceback in the job log
MAX_ERRORS = 20  # attempt records kept per job
_ABSOLUTE_PATH = re.compile(r"(?<![\w.])/(?:[^\s'\":/]+/)+([^\s'\":/]*)")


def capped(text: str, limit: int = MAX_TEXT) -> str:
    """Return `text` cut to `limit` bytes of UTF-8, saying so when it was cut."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    note = f" … [{len(data) - limit} more bytes in the job log]"
    room = max(0, limit - len(note.encode("utf-8")))
    return data[:room].decode("utf-8", "ignore") + note


def scrub_paths(text: str, private: tuple[str, ...] = ()) -> str:
    """Hide server paths: the `private` folders (library root, data dir), then any absolute
    path without spaces, each down to its last component (`…/name`)."""
    for folder in sorted(private, key=len, reverse=True):
        if folder and folder != "/":
            text = text.replace(folder.rstrip("/") + "/", "…/").replace(folder, "…")
    return _ABSOLUTE_PATH.sub(lambda m: f"…/{m.group(1)}", text)


def user_message(exc: BaseException, private: tuple[str, ...] = ()) -> str:
    """Return one line a user can read about `exc`: its class and what went wrong."""
    if isinstance(exc, MediashelfError):
        text = exc.message
    elif isinstance(exc, sa_exc.SQLAlchemyError):
        text = f"Database error: {describe(exc)}"
    elif isinstance(exc, OSError):
        name = f" (…/{PurePath(str(exc.filename)).name})" if exc.filename else ""
        text = f"{type(exc).__name__}: {exc.strerror or 'input/output error'}{name}"
    else:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        text = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return capped(scrub_paths(" ".join(text.split()), private))


def error_class(exc: BaseException) -> str:
    """Return the class name shown next to the message."""
    return type(exc).__name__


def technical_detail(exc: BaseException) -> str:
    """Return the job log's debug line about `exc` (bounded).

    A fault nobody foresaw gets its traceback: where it happened is what its fixer needs. A
    foreseen failure (a MediashelfError: the library offline, the missing-files brake) gets
    its whole message only; its traceback would show nothing but the service's source paths.
    """
    if isinstance(exc, MediashelfError):
        return capped(exc.message, MAX_DETAIL)
    return capped("".join(traceback.format_exception(exc)), MAX_DETAIL)


def attempt_record(
    attempt: int, at: datetime, cls: str, message: str, worker: str | None
) -> dict[str, Any]:
    """Return the `jobs.errors` entry of one failed or interrupted attempt."""
    return {
        "attempt": attempt, "at": at.isoformat(), "class": cls, "error": capped(message),
        "worker": worker,
    }  # fmt: skip


def with_record(errors: list[Any] | None, record: dict[str, Any]) -> list[Any]:
    """Return `errors` with `record` appended, keeping the newest MAX_ERRORS."""
    return [*(errors or []), record][-MAX_ERRORS:]
