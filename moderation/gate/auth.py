"""Who is asking: the service token, reviewers' tokens, review-page sessions, and the throttle
on logins.

- ``MODERATION_API_TOKEN`` is the service's (deployments, the platform's backend): it acts as
  ``api`` in the audit log.
- Each reviewer has a token of their own (``moderation reviewers add NAME``), kept in the
  database as its SHA-256: the reviewer's name is the actor of whatever they do.
- The browser never keeps a token: logging in starts a session (a random id in the cookie,
  a CSRF token of its own) stored hashed in the database, so every server process knows it;
  logout or revoking the reviewer ends it.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from moderation.db import reviewers
from moderation.db.models import now
from moderation.db.reviewers import SignedIn

SESSION_COOKIE = "moderation_review"
COOKIE_PATH = "/review"
SESSION_SECONDS = 12 * 3600
SERVICE_ACTOR = "api"


@dataclass(frozen=True)
class Caller:
    actor: str  # the name the audit log records
    reviewer_id: int | None  # None for the service token


class Tokens:
    """The service token and the reviewers' tokens."""

    def __init__(self, api_token: str, sessions: sessionmaker[Session] | None = None):
        self._secret = api_token.encode()
        self._sessions = sessions

    def caller(self, token: str | None) -> Caller | None:
        """Whose token this is; None for no token, a wrong one or a revoked reviewer's."""
        if not token:
            return None
        if self._secret and secrets.compare_digest(token.encode(), self._secret):
            return Caller(SERVICE_ACTOR, None)
        if self._sessions is None or not token.startswith(reviewers.TOKEN_PREFIX):
            return None
        with self._sessions() as session:
            found = reviewers.reviewer_for_token(session, token)
            return Caller(found.name, found.id) if found is not None else None

    def valid(self, token: str | None) -> bool:
        return self.caller(token) is not None


class ReviewSessions:
    """Reviewers' sessions in the database: a random id per login, each with its own CSRF
    token, ended by logout, by revoking the reviewer, or after ``seconds``."""

    def __init__(self, sessions: sessionmaker[Session], seconds: float = SESSION_SECONDS,
                 clock: Callable[[], datetime] = now):
        self._sessions = sessions
        self.seconds = seconds
        self.clock = clock

    def start(self, caller: Caller) -> tuple[str, str]:
        """A new session: (its id for the cookie, its CSRF token for the forms)."""
        with self._sessions() as session, session.begin():
            return reviewers.start_session(session, caller.actor, caller.reviewer_id,
                                           self.seconds, self.clock())

    def lookup(self, session_id: str | None) -> SignedIn | None:
        if not session_id:
            return None
        with self._sessions() as session:
            return reviewers.signed_in(session, session_id, self.clock())

    def csrf(self, session_id: str | None) -> str | None:
        """The session's CSRF token; None for an unknown, ended or expired session."""
        found = self.lookup(session_id)
        return found.csrf if found is not None else None

    def valid(self, session_id: str | None) -> bool:
        return self.lookup(session_id) is not None

    def valid_csrf(self, session_id: str | None, token: str | None) -> bool:
        expected = self.csrf(session_id)
        return expected is not None and token is not None and secrets.compare_digest(
            expected.encode(), token.encode())

    def end(self, session_id: str | None) -> None:
        if session_id:
            with self._sessions() as session, session.begin():
                reviewers.end_session(session, session_id)


class LoginThrottle:
    """At most ``failures`` wrong tokens per client address in ``window`` seconds; then its
    logins are refused until the oldest failure leaves the window. Per server process."""

    def __init__(self, failures: int = 5, window: float = 300.0, clock=time.monotonic):
        self.failures, self.window, self.clock = failures, window, clock
        self._failed: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def wait_s(self, client: str) -> float:
        """Seconds until ``client`` may try again; 0 when it may now."""
        with self._lock:
            recent = self._recent(client)
            if len(recent) < self.failures:
                return 0.0
            return recent[0] + self.window - self.clock()

    def failed(self, client: str) -> None:
        with self._lock:
            self._recent(client).append(self.clock())

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._failed.pop(client, None)

    def _recent(self, client: str) -> list[float]:
        cutoff = self.clock() - self.window
        recent = [t for t in self._failed.get(client, []) if t > cutoff]
        self._failed[client] = recent
        return recent


def bearer_token(authorization: str | None) -> str | None:
    scheme, _, token = (authorization or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None
