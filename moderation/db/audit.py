"""Reading the audit log: newest first, filtered, paged by id (stable while entries arrive)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from moderation.db.models import AuditLog


@dataclass(frozen=True)
class AuditFilter:
    upload_id: str | None = None
    person_id: str | None = None
    actor: str | None = None
    action: str | None = None

    def items(self) -> list[tuple[str, str]]:
        return [(k, v) for k, v in vars(self).items() if v]


def audit_entries(session: Session, where: AuditFilter, limit: int = 50,
                  before: int | None = None) -> tuple[list[AuditLog], int | None]:
    """Up to ``limit`` entries older than id ``before``, newest first, and the ``before`` of
    the next page (None on the last)."""
    query = select(AuditLog).order_by(AuditLog.id.desc()).limit(limit + 1)
    if where.upload_id:
        query = query.where(AuditLog.upload_id == where.upload_id)
    if where.person_id:
        query = query.where(AuditLog.person_id == where.person_id)
    if where.actor:
        query = query.where(AuditLog.actor == where.actor)
    if where.action:
        query = query.where(AuditLog.action == where.action)
    if before is not None:
        query = query.where(AuditLog.id < before)
    rows = list(session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, rows[-1].id if more and rows else None
