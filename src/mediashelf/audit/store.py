"""All audit SQL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mediashelf.db.schema import AuditEvent


@dataclass(frozen=True)
class AuditFilter:
    """Which audit events to list, newest first."""

    video_id: str | None = None
    action: str | None = None
    job_id: int | None = None
    limit: int = 50
    offset: int = 0


class AuditStore:
    """Reads and writes `audit_events` inside the caller's unit of work."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def record(
        self,
        *,
        ts: datetime,
        action: str,
        actor: str,
        video_id: str | None = None,
        job_id: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> AuditEvent:
        """Add one event to the current transaction."""
        event = AuditEvent(
            ts=ts, action=action, actor=actor, video_id=video_id, job_id=job_id,
            details=details or {},
        )  # fmt: skip
        self.session.add(event)
        self.session.flush()
        return event

    def page(self, flt: AuditFilter) -> tuple[Sequence[AuditEvent], int]:
        """Return one page of matching events and the total count."""
        query = select(AuditEvent)
        if flt.video_id is not None:
            query = query.where(AuditEvent.video_id == flt.video_id)
        if flt.action is not None:
            query = query.where(AuditEvent.action == flt.action)
        if flt.job_id is not None:
            query = query.where(AuditEvent.job_id == flt.job_id)
        total = self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        page = query.order_by(AuditEvent.id.desc()).limit(flt.limit).offset(flt.offset)
        return self.session.scalars(page).all(), total
