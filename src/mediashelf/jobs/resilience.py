"""Riding out database outages inside a worker: retry transient errors with backoff.

A locked SQLite file, a PostgreSQL restart or a terminated backend must not kill a runner
thread (its job would look alive while nobody runs it) nor lose committed work. Each unit of
work is all-or-nothing, so running it again after a transient error is safe.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.orm import Session

from mediashelf.db.outage import describe, is_conflict, is_storage_full, is_transient
from mediashelf.db.session import Database

log = logging.getLogger(__name__)
T = TypeVar("T")

# Wait up to `seconds`; return True when the caller must give up (e.g. the worker stops).
Waiter = Callable[[float], bool]


class OutageOutlasted(Exception):
    """The database stayed away until the caller gave up waiting for it."""


@dataclass(frozen=True)
class OutagePolicy:
    """Backoff between attempts while the database is away."""

    first_s: float = 0.2
    max_s: float = 5.0


def is_outage(exc: BaseException) -> bool:
    """Tell whether `exc` is a database outage worth waiting out (full disks included)."""
    return is_transient(exc) or is_storage_full(exc)


def resilient(
    db: Database,
    work: Callable[[Session], T],
    waiter: Waiter,
    what: str,
    policy: OutagePolicy = OutagePolicy(),
) -> T:
    """Run `work` in a unit of work, repeating it while the database is unavailable.

    Raises OutageOutlasted when `waiter` says to give up; any other error propagates.
    """
    delay = policy.first_s
    warned = False
    while True:
        try:
            with db.unit_of_work() as session:
                result = work(session)
        except Exception as exc:
            if not is_outage(exc):
                raise
            if is_conflict(exc):  # the server is fine: run it again, and say so plainly
                log.info("%s: %s; running it again", what, describe(exc))
            elif not warned:
                log.warning("%s: %s; retrying until it is back", what, describe(exc))
                warned = True
            if waiter(delay):
                raise OutageOutlasted(what) from exc
            delay = min(policy.max_s, delay * 2)
            continue
        if warned:
            log.info("%s: the database is back", what)
        return result
