"""The API token, the reviewers' sessions and the throttle on their logins.

One shared secret guards everything (``MODERATION_API_TOKEN``). The browser never keeps the
token: logging in with it starts a session with a random id (the cookie) and a CSRF token of its
own; logging out ends that session on the server.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time

SESSION_COOKIE = "moderation_review"
REVIEWER_COOKIE = "moderation_reviewer"
COOKIE_PATH = "/review"
SESSION_SECONDS = 12 * 3600


class Tokens:
    def __init__(self, api_token: str):
        self._secret = api_token.encode()

    def valid(self, token: str | None) -> bool:
        """True for the API token; never true when no token is configured."""
        return bool(self._secret) and token is not None and secrets.compare_digest(
            token.encode(), self._secret)



class ReviewSessions:
    """Reviewers' sessions: a random id per login, each with its own CSRF token, ended by
    logout or after ``seconds``. Kept in this process's memory (``moderation serve`` is one
    process): a restart logs reviewers out, and several server processes would each need the
    reviewer to log in."""

    def __init__(self, seconds: float = SESSION_SECONDS, clock=time.monotonic):
        self.seconds = seconds
        self.clock = clock
        self._sessions: dict[str, tuple[str, float]] = {}  # sha256(id) -> (csrf, expiry)
        self._lock = threading.Lock()

    def start(self) -> tuple[str, str]:
        """A new session: (its id for the cookie, its CSRF token for the forms)."""
        session_id, csrf = secrets.token_hex(32), secrets.token_hex(32)
        with self._lock:
            now = self.clock()
            self._sessions = {k: v for k, v in self._sessions.items() if v[1] > now}
            self._sessions[_digest(session_id)] = (csrf, now + self.seconds)
        return session_id, csrf

    def csrf(self, session_id: str | None) -> str | None:
        """The session's CSRF token; None for an unknown, ended or expired session."""
        if not session_id:
            return None
        with self._lock:
            found = self._sessions.get(_digest(session_id))
        if found is None or found[1] <= self.clock():
            return None
        return found[0]

    def valid(self, session_id: str | None) -> bool:
        return self.csrf(session_id) is not None

    def valid_csrf(self, session_id: str | None, token: str | None) -> bool:
        expected = self.csrf(session_id)
        return expected is not None and token is not None and secrets.compare_digest(
            expected.encode(), token.encode())

    def end(self, session_id: str | None) -> None:
        if session_id:
            with self._lock:
                self._sessions.pop(_digest(session_id), None)


class LoginThrottle:
    """At most ``failures`` wrong tokens per client address in ``window`` seconds; then its
    logins are refused until the oldest failure leaves the window."""

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


def _digest(session_id: str) -> str:
    # Stored hashed: a memory dump or a log of the store does not hand out live sessions.
    return hashlib.sha256(session_id.encode()).hexdigest()


def bearer_token(authorization: str | None) -> str | None:
    scheme, _, token = (authorization or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None
