"""Page sessions: opened by a log-in, ended by log-out, idle and absolute expiry, token rotation.

The cookie holds a random secret; the table holds only its SHA-256, so a copy of the database
opens no session. Each row remembers which API token it was opened with (a keyed tag), so
changing the token ends every session at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session

from mediashelf.clock import Clock
from mediashelf.web.auth.credentials import new_secret, session_id, token_tag
from mediashelf.web.auth.store import SessionStore

# A session's last use is written at most this often, not on every request.
TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True)
class SessionPolicy:
    """How long sessions live: idle limit and absolute limit, in seconds."""

    idle_s: float
    max_s: float


def open_session(session: Session, clock: Clock, token: str, policy: SessionPolicy) -> str:
    """Start a session for the holder of `token`; return the secret for the cookie."""
    now = clock.now()
    store = SessionStore(session)
    tag = token_tag(token)
    store.prune(tag, now - timedelta(seconds=policy.idle_s), now - timedelta(seconds=policy.max_s))
    secret = new_secret()
    store.add(session_id(secret), tag, now)
    return secret


def session_valid(
    session: Session, clock: Clock, token: str, secret: str, policy: SessionPolicy
) -> bool:
    """Tell whether `secret` opens a live session of the current token (ending it if expired)."""
    store = SessionStore(session)
    key = session_id(secret)
    row = store.get(key)
    if row is None:
        return False
    now = clock.now()
    expired = (
        row.token_tag != token_tag(token)
        or now - row.last_seen_at > timedelta(seconds=policy.idle_s)
        or now - row.created_at > timedelta(seconds=policy.max_s)
    )
    if expired:
        store.delete(key)
        return False
    if now - row.last_seen_at >= TOUCH_EVERY:
        store.touch(key, now)
    return True


def close_session(session: Session, secret: str) -> None:
    """End the session of `secret` for good."""
    SessionStore(session).delete(session_id(secret))
