"""Delivering block alerts to a webhook: signed, retried, and at most once per verdict (a
delivered alert is never sent again).

Each POST carries the alert as a JSON body and three headers: ``X-Moderation-Alert-Id``,
``X-Moderation-Timestamp`` (Unix seconds when this attempt was signed) and
``X-Moderation-Signature: sha256=<hex>``, the HMAC-SHA256 under the shared secret
(``MODERATION_ALERT_SECRET``) of ``<timestamp>.<body>``: the timestamp, a dot and the body's exact
bytes. The receiver recomputes it (README, Alerts: a snippet) and refuses a mismatch or a
timestamp too far from its clock. Without a secret the alert goes out unsigned (no signature
header) and a warning is logged for every such delivery.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time

import requests
from sqlalchemy.orm import Session, sessionmaker

from moderation.db.models import Alert, now

log = logging.getLogger(__name__)

ALERT_ID_HEADER = "X-Moderation-Alert-Id"
TIMESTAMP_HEADER = "X-Moderation-Timestamp"
SIGNATURE_HEADER = "X-Moderation-Signature"


class DeliveryFailed(Exception):
    """The webhook did not accept the alert; worth retrying later."""


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header's value: ``sha256=`` and the hex HMAC-SHA256 of
    ``<timestamp>.<body>`` under ``secret``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def alert_request(alert_id: int, payload: dict, secret: str,
                  at: float | None = None) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one delivery attempt, signed at ``at`` (now by default)."""
    body = json.dumps({"alert_id": alert_id, **payload}, separators=(",", ":")).encode()
    timestamp = str(int(time.time() if at is None else at))
    headers = {"Content-Type": "application/json", ALERT_ID_HEADER: str(alert_id),
               TIMESTAMP_HEADER: timestamp}
    if secret:
        headers[SIGNATURE_HEADER] = sign(secret, timestamp, body)
    return body, headers


def deliver_alert(sessions: sessionmaker[Session], alert_id: int, webhook_url: str,
                  secret: str = "", timeout: float = 10.0) -> bool:
    """POST the alert once, signed with ``secret`` (unsigned, with a warning, when it is
    empty); True when delivered now or before. Raises ``DeliveryFailed`` after recording the
    failed attempt (the transaction commits first, so attempts count)."""
    error = None
    with sessions() as session, session.begin():
        alert = session.get(Alert, alert_id, with_for_update=True)
        if alert is None or alert.delivered_at is not None:
            return alert is not None
        if not webhook_url:
            return False
        alert.attempts += 1
        body, headers = alert_request(alert.id, alert.payload, secret)
        if not secret:
            log.warning("alert %s goes out unsigned: MODERATION_ALERT_SECRET is unset, so its "
                        "receiver cannot tell it from a forgery", alert.id)
        try:
            response = requests.post(webhook_url, data=body, headers=headers, timeout=timeout)
            response.raise_for_status()
            alert.delivered_at = now()
        except requests.RequestException as exc:
            alert.last_error = error = str(exc)[:500]
    if error is not None:
        raise DeliveryFailed(f"alert {alert_id}: {error}")
    return True


def deliver_with_retries(sessions, alert_id: int, webhook_url: str, attempts: int = 5,
                         backoff: float = 1.0, secret: str = "") -> bool:
    """In-process delivery for the embedded scan (``moderation scan``), which has no broker and
    so no Celery retries: back off 1, 2, 4... seconds between tries. The worker's
    ``deliver_alert`` task is retried by Celery instead."""
    for attempt in range(attempts):
        try:
            return deliver_alert(sessions, alert_id, webhook_url, secret)
        except DeliveryFailed:
            if attempt == attempts - 1:
                return False
            time.sleep(backoff * 2**attempt)
    return False
