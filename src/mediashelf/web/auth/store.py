"""All SQL of page sessions (`web_sessions`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from mediashelf.db.schema import WebSession


class SessionStore:
    """Reads and writes `web_sessions` inside the caller's unit of work."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, session_id: str, token_tag: str, now: datetime) -> None:
        """Store a new session."""
        self.session.add(
            WebSession(id=session_id, token_tag=token_tag, created_at=now, last_seen_at=now)
        )
        self.session.flush()

    def get(self, session_id: str) -> WebSession | None:
        """Return the session row, or None."""
        return self.session.scalar(select(WebSession).where(WebSession.id == session_id))

    def touch(self, session_id: str, now: datetime) -> None:
        """Record that the session was used at `now`."""
        self.session.execute(
            update(WebSession).where(WebSession.id == session_id).values(last_seen_at=now)
        )

    def delete(self, session_id: str) -> None:
        """End one session."""
        self.session.execute(delete(WebSession).where(WebSession.id == session_id))

    def prune(self, token_tag: str, idle_before: datetime, created_before: datetime) -> int:
        """Delete sessions of another token, idle too long, or past the absolute limit."""
        result = self.session.execute(
            delete(WebSession).where(
                or_(
                    WebSession.token_tag != token_tag,
                    WebSession.last_seen_at < idle_before,
                    WebSession.created_at < created_before,
                )
            )
        )
        return int(getattr(result, "rowcount", 0) or 0)
