"""Reviewers, their tokens and their review-page sessions.

A token is shown once, when the reviewer is added; the database keeps only its SHA-256, so a
copy of the database or a log of its queries hands out no token. Session ids are kept the same
way. Revoking a reviewer refuses their token and ends their sessions at once.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from moderation.db.models import Reviewer, ReviewerSession, now
from moderation.db.uploads import audit
from moderation.errors import ModerationError

TOKEN_PREFIX = "mrv_"  # recognisable in a leaked paste, and by secret scanners
# Names the audit log gives to the service token and the worker: no reviewer may take them.
RESERVED_NAMES = {"api", "worker"}


class UnknownReviewer(ModerationError):
    def __init__(self, name: str):
        super().__init__(f"reviewer {name!r} does not exist")


class ReviewerExists(ModerationError):
    def __init__(self, name: str):
        super().__init__(f"reviewer {name!r} exists already (revoke them to issue a new token "
                         "under another name)")


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def add_reviewer(session: Session, name: str, actor: str) -> tuple[Reviewer, str]:
    """The new reviewer and their token (not stored: give it to them now)."""
    name = name.strip()
    if not name or len(name) > 200:
        raise ModerationError("a reviewer's name is 1 to 200 characters")
    if name.lower() in RESERVED_NAMES or name.lower().startswith("cli:"):
        raise ModerationError(f"{name!r} is reserved for the service's own audit entries")
    if session.scalar(select(Reviewer.id).where(Reviewer.name == name)) is not None:
        raise ReviewerExists(name)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    reviewer = Reviewer(name=name, token_hash=digest(token))
    session.add(reviewer)
    session.flush()
    audit(session, actor, "reviewer_added", None, {"reviewer": name})
    return reviewer, token


def list_reviewers(session: Session) -> list[Reviewer]:
    return list(session.scalars(select(Reviewer).order_by(Reviewer.name)))


def revoke_reviewer(session: Session, name: str, actor: str) -> Reviewer:
    reviewer = session.scalar(select(Reviewer).where(Reviewer.name == name).with_for_update())
    if reviewer is None:
        raise UnknownReviewer(name)
    moment = now()
    if reviewer.revoked_at is None:
        reviewer.revoked_at = moment
    ended = session.execute(
        update(ReviewerSession).where(ReviewerSession.reviewer_id == reviewer.id,
                                      ReviewerSession.ended_at.is_(None))
        .values(ended_at=moment)).rowcount
    audit(session, actor, "reviewer_revoked", None, {"reviewer": name, "sessions_ended": ended})
    return reviewer


def reviewer_for_token(session: Session, token: str) -> Reviewer | None:
    """The reviewer whose token this is, unless revoked."""
    if not token:
        return None
    return session.scalar(select(Reviewer).where(Reviewer.token_hash == digest(token),
                                                 Reviewer.revoked_at.is_(None)))


@dataclass(frozen=True)
class SignedIn:
    actor: str
    reviewer_id: int | None
    csrf: str


def start_session(session: Session, actor: str, reviewer_id: int | None,
                  seconds: float, moment: datetime | None = None) -> tuple[str, str]:
    """A new session: (its id for the cookie, its CSRF token for the forms). Expired sessions
    are swept on the way."""
    moment = moment or now()
    session_id, csrf = secrets.token_hex(32), secrets.token_hex(32)
    session.execute(ReviewerSession.__table__.delete().where(
        ReviewerSession.expires_at <= moment - timedelta(days=1)))
    session.add(ReviewerSession(id_hash=digest(session_id), reviewer_id=reviewer_id,
                                actor=actor, csrf=csrf, created_at=moment,
                                expires_at=moment + timedelta(seconds=seconds)))
    return session_id, csrf


def signed_in(session: Session, session_id: str | None,
              moment: datetime | None = None) -> SignedIn | None:
    """Who holds this session; None for an unknown, ended or expired one, or one whose reviewer
    was revoked."""
    if not session_id:
        return None
    moment = moment or now()
    row = session.execute(
        select(ReviewerSession.actor, ReviewerSession.reviewer_id, ReviewerSession.csrf,
               Reviewer.revoked_at)
        .outerjoin(Reviewer, Reviewer.id == ReviewerSession.reviewer_id)
        .where(ReviewerSession.id_hash == digest(session_id),
               ReviewerSession.ended_at.is_(None), ReviewerSession.expires_at > moment)).first()
    if row is None or row.revoked_at is not None:
        return None
    return SignedIn(row.actor, row.reviewer_id, row.csrf)


def end_session(session: Session, session_id: str | None) -> None:
    if session_id:
        session.execute(update(ReviewerSession)
                        .where(ReviewerSession.id_hash == digest(session_id),
                               ReviewerSession.ended_at.is_(None))
                        .values(ended_at=now()))
