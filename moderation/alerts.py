"""Delivering block alerts to a webhook: retried, and at most once per verdict (a delivered
alert is never sent again)."""

from __future__ import annotations

import time

import requests
from sqlalchemy.orm import Session, sessionmaker

from moderation.db.models import Alert, now


class DeliveryFailed(Exception):
    """The webhook did not accept the alert; worth retrying later."""


def deliver_alert(sessions: sessionmaker[Session], alert_id: int, webhook_url: str,
                  timeout: float = 10.0) -> bool:
    """POST the alert once; True when delivered now or before. Raises ``DeliveryFailed``
    after recording the failed attempt (the transaction commits first, so attempts count)."""
    error = None
    with sessions() as session, session.begin():
        alert = session.get(Alert, alert_id, with_for_update=True)
        if alert is None or alert.delivered_at is not None:
            return alert is not None
        if not webhook_url:
            return False
        alert.attempts += 1
        try:
            response = requests.post(webhook_url, json={"alert_id": alert.id, **alert.payload},
                                     timeout=timeout)
            response.raise_for_status()
            alert.delivered_at = now()
        except requests.RequestException as exc:
            alert.last_error = error = str(exc)[:500]
    if error is not None:
        raise DeliveryFailed(f"alert {alert_id}: {error}")
    return True


def deliver_with_retries(sessions, alert_id: int, webhook_url: str, attempts: int = 5,
                         backoff: float = 1.0) -> bool:
    """In-process delivery (the embedded scan): back off 1, 2, 4... seconds between tries."""
    for attempt in range(attempts):
        try:
            return deliver_alert(sessions, alert_id, webhook_url)
        except DeliveryFailed:
            if attempt == attempts - 1:
                return False
            time.sleep(backoff * 2**attempt)
    return False
