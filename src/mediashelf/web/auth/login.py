"""Log-in and log-out as one call each: throttle, token check, session row."""

from __future__ import annotations

from mediashelf.runtime import Runtime
from mediashelf.web.auth.access import Access
from mediashelf.web.auth.credentials import token_matches
from mediashelf.web.auth.sessions import close_session, open_session
from mediashelf.web.errors import Refused


def log_in(runtime: Runtime, access: Access, client: str, given: str) -> str | None:
    """Return a new session secret for the right token, None for a wrong one (429 if throttled)."""
    wait = access.throttle.retry_after(client)
    if wait is not None:
        raise Refused(429, f"Too many failed log-ins; try again in {wait} s.",
                      {"retry-after": str(wait)})  # fmt: skip
    if access.token is None or not token_matches(given, access.token):
        access.throttle.failed(client)
        return None
    access.throttle.succeeded(client)
    with runtime.db.unit_of_work() as session:
        return open_session(session, runtime.clock, access.token, access.sessions)


def log_out(runtime: Runtime, secret: str | None) -> None:
    """End the session of `secret` on the server (nothing to do without one)."""
    if secret:
        with runtime.db.unit_of_work() as session:
            close_session(session, secret)
