"""What /healthz reports: the database answers, its disk has room, how many workers live.

Failures name the component and the class of failure only; the database's address, its
credentials and the server's own error text stay in the logs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from mediashelf.db.migrate import newest_file_revision, stored_revision
from mediashelf.db.outage import describe, file_problem
from mediashelf.errors import DatabaseError, DatabaseFileProblem
from mediashelf.jobs.service import job_stats
from mediashelf.library.library_state import RootCheck, empty_root_problem
from mediashelf.library.store import TrackStore
from mediashelf.runtime import Runtime
from mediashelf.web.errors import DISK_FULL, RETRY_AFTER_S
from mediashelf.web.storage import StorageWatch, sqlite_disk_low

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Health:
    """The verdict and the body to send."""

    healthy: bool
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


def _unhealthy(
    component: str, reason: str, message: str, watch: dict[str, Any], retry: bool = False
) -> Health:
    body = {"status": "error", "error": message, "component": component, "reason": reason,
            "watch": watch}  # fmt: skip
    return Health(False, body, {"retry-after": str(RETRY_AFTER_S)} if retry else {})


def check_health(runtime: Runtime, storage: StorageWatch, root_check: RootCheck) -> Health:
    """Ping the database, count live workers, look for a full disk; say how watching goes."""
    watch = runtime.watch_state().as_json()  # events | polling | off, and why
    try:
        runtime.db.ping()
        schema = _schema_problem(runtime)  # before queries that would fail on another one
        if schema is not None:
            return _unhealthy("database", "schema changed", schema, watch)
        with runtime.db.unit_of_work() as session:
            workers = len(job_stats(session, runtime.clock, runtime.settings.lease_s).workers)
            library = _library_state(runtime.settings.library, root_check, session)
    except (DatabaseError, SQLAlchemyError) as exc:
        log.warning("Health check: database failed: %r", exc.__cause__ or exc)
        reason = (
            exc.reason if isinstance(exc, DatabaseFileProblem) else describe(exc.__cause__ or exc)
        )
        message = f"The database is unavailable ({reason})."
        # §7: 503 + Retry-After while unreachable; a file someone must mend gets none (as
        # the other routes answer it).
        by_hand = isinstance(exc, DatabaseFileProblem) or file_problem(exc.__cause__ or exc)
        return _unhealthy("database", reason, message, watch, retry=not by_hand)
    if storage.full or sqlite_disk_low(runtime.db.url):
        return _unhealthy("disk", "disk full", DISK_FULL, watch)
    body = {"status": "ok", "database": "ok", "disk": "ok", "workers": workers, "watch": watch,
            "library": library}  # fmt: skip
    return Health(True, body)


def _library_state(root: Path | None, check: RootCheck, session: Session) -> dict[str, str | None]:
    """Say whether the library is there (a dropped mount: scans wait, nothing is marked
    missing, and this was the one place it did not show). The service itself is healthy."""
    if root is None:
        return {"status": "not configured", "reason": None}
    problem, empty = check.look(root)  # within a second, even on a mount that hangs
    if problem is None and empty:  # an empty mount point, if tracks are known
        known = TrackStore(session).present_count()
        problem = empty_root_problem(known) if known else None
    return {"status": "offline" if problem else "ok", "reason": problem}


def _schema_problem(runtime: Runtime) -> str | None:
    """Say so when the database's schema is not the one this process migrated to.

    A backup of an older schema restored under a running web-only service (no worker
    heartbeats, so the restore saw nobody) left every API call failing with 500 while this
    said "ok". Restarting migrates it.
    """
    revision, head = stored_revision(runtime.db), newest_file_revision()
    if revision == head:
        return None
    return (f"The database's schema is at {revision}, this service's at {head}: it was "
            "restored or migrated under the running service. Restart the service.")  # fmt: skip
