"""The access policy of one app: its token, public reads, session limits and log-in throttle."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from mediashelf.runtime import Runtime
from mediashelf.web.auth.sessions import SessionPolicy
from mediashelf.web.auth.throttle import LoginThrottle

SESSION_COOKIE = "mediashelf_session"
CSRF_COOKIE = "mediashelf_csrf"
CSRF_HEADER = "x-csrf-token"


@dataclass(frozen=True)
class Access:
    """Built once per app from the runtime's settings."""

    token: str | None
    public_read: bool
    sessions: SessionPolicy
    throttle: LoginThrottle

    @classmethod
    def from_runtime(cls, runtime: Runtime) -> Access:
        """Read the policy from the runtime's settings."""
        s = runtime.settings
        return cls(
            token=s.api_token or None,
            public_read=s.public_read,
            sessions=SessionPolicy(s.session_idle_s, s.session_max_s),
            throttle=LoginThrottle(runtime.clock, s.login_failures_max, s.login_window_s),
        )


def access_of(request: Request) -> Access:
    """Return the app's access policy."""
    access: Access = request.app.state.access
    return access
