"""The API token, and what the review pages derive from it: a session cookie and a CSRF token.

One shared secret guards everything (``MODERATION_API_TOKEN``). The browser never keeps the token
itself: the cookie holds an HMAC of it, so changing the token logs every reviewer out.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

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

    @property
    def session(self) -> str:
        return self._derive("review-session")

    @property
    def csrf(self) -> str:
        return self._derive("review-csrf")

    def valid_session(self, value: str | None) -> bool:
        return bool(self._secret) and value is not None and secrets.compare_digest(
            value.encode(), self.session.encode())

    def valid_csrf(self, value: str | None) -> bool:
        return bool(self._secret) and value is not None and secrets.compare_digest(
            value.encode(), self.csrf.encode())

    def _derive(self, purpose: str) -> str:
        return hmac.new(self._secret, purpose.encode(), hashlib.sha256).hexdigest()


def bearer_token(authorization: str | None) -> str | None:
    scheme, _, token = (authorization or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None
