"""The task base class in process (Celery's eager ``apply``, no broker) on the real database:
which errors are retried, how often, and what is given up at once."""

from __future__ import annotations

import logging

import pytest
from celery.exceptions import Retry
from sqlalchemy import exc as sa
from sqlalchemy import select

from moderation.alerts import DeliveryFailed
from moderation.db.models import Alert, Scan
from moderation.db.uploads import UnknownUpload, gate_answer, register_upload
from moderation.errors import ConfigError, CorruptVideo
from tests.worker.conftest import new_alert
from worker import base
from worker.tasks import MAX_SCAN_STARTS, deliver_alert, scan_upload

CLOSED_PORT = "http://127.0.0.1:9/hook"  # nothing listens on the discard port here


@pytest.mark.parametrize("error, transient", [
    (sa.OperationalError("SELECT 1", {}, Exception("server closed the connection")), True),
    (sa.InterfaceError("SELECT 1", {}, Exception("connection already closed")), True),
    (sa.DBAPIError("SELECT 1", {}, Exception("lost"), connection_invalidated=True), True),
    (sa.DBAPIError("SELECT 1", {}, Exception("syntax")), False),
    (sa.IntegrityError("INSERT", {}, Exception("duplicate key")), False),
    (ConnectionRefusedError(), True),
    (MemoryError(), True),
    (DeliveryFailed("alert 1: 503"), True),
    (CorruptVideo("a.mp4", "unreadable"), False),
    (KeyError("bug"), False),
])
def test_errors_are_sorted_into_transient_and_not(error, transient):
    assert base.is_transient(error) is transient


@pytest.mark.parametrize("error", [CorruptVideo("a.mp4", "x"), UnknownUpload("u"),
                                   ConfigError("bad setting")])
def test_permanent_errors_are_permanent(error):
    assert isinstance(error, base.PERMANENT) and not base.is_transient(error)


def test_backoff_grows_exponentially_with_jitter_up_to_a_cap():
    task = scan_upload
    for retries in range(12):
        bound = min(task.backoff_max_s, task.backoff_factor_s * 2**retries)
        draws = {task.backoff(retries) for _ in range(50)}
        assert all(0 <= draw <= bound for draw in draws)
        if bound >= 8:
            assert len(draws) > 1  # jittered


def test_an_undeliverable_alert_is_tried_webhook_attempts_times(sessions, configure, caplog):
    configure(webhook_url=CLOSED_PORT, webhook_attempts=3)
    alert_id = new_alert(sessions, {"decision": "block"})
    with caplog.at_level(logging.INFO):
        result = deliver_alert.apply(args=[alert_id])
    assert result.failed() and isinstance(result.result, DeliveryFailed)
    with sessions() as session:
        alert = session.get(Alert, alert_id)
        assert alert.attempts == 3 and alert.delivered_at is None
    assert f"alert={alert_id}: giving up after 3 tries" in caplog.text


def test_a_database_outage_is_retried_then_given_up(configure, caplog):
    # The settings say where the database is; an unreachable one fails every try.
    configure(webhook_url=CLOSED_PORT, webhook_attempts=2,
              database_url="postgresql+psycopg2://postgres@127.0.0.1:1/none")
    with caplog.at_level(logging.INFO):
        result = deliver_alert.apply(args=[1])
    assert result.failed() and isinstance(result.result, sa.OperationalError)
    assert caplog.text.count("transient OperationalError") == 1
    assert "alert=1: giving up after 2 tries" in caplog.text


def test_a_scan_outlasts_a_database_outage_past_its_last_retry(configure, monkeypatch,
                                                              caplog):
    """Giving up a scan means recording an unprocessable verdict, which the database must take:
    a scan whose retries ran out while it is unreachable retries again instead of ending with
    its message acknowledged and its upload pending for good."""
    configure(database_url="postgresql+psycopg2://postgres@127.0.0.1:1/none")
    asked = {}

    def retry(exc=None, countdown=None, max_retries=None, **_options):
        asked.update(exc=exc, max_retries=max_retries)
        return Retry(exc=exc)  # what Celery raises once the retry's message is sent

    monkeypatch.setattr(scan_upload, "retry", retry)
    last = scan_upload.max_retries
    with caplog.at_level(logging.INFO):
        result = scan_upload.apply(args=["u1"], retries=last)
    assert result.state == "RETRY"
    assert isinstance(asked["exc"], sa.OperationalError) and asked["max_retries"] > last
    assert f"transient OperationalError (try {last + 1})" in caplog.text
    assert "giving up" not in caplog.text


def test_an_unknown_upload_is_given_up_at_once(configure, caplog):
    configure()
    with caplog.at_level(logging.INFO):
        result = scan_upload.apply(args=["no-such-upload"])
    assert result.successful() and result.result is None
    assert "upload=no-such-upload: giving up, retrying cannot help: UnknownUpload" in caplog.text
    assert "transient" not in caplog.text


def test_a_scan_that_keeps_dying_is_not_taken_again(sessions, configure, caplog):
    configure()
    version = scan_upload.service.detector.version
    with sessions() as session, session.begin():
        upload = register_upload(session, "/videos/crashes-the-decoder.mp4", "u1")
        session.add(Scan(upload_id=upload.id, detector_version=version, status="running",
                         attempts=MAX_SCAN_STARTS))
        upload_id = upload.id
    with caplog.at_level(logging.INFO):
        assert scan_upload.apply(args=[upload_id]).result is None
    with sessions() as session:
        assert session.scalar(select(Scan.attempts).where(Scan.upload_id == upload_id)) \
            == MAX_SCAN_STARTS
        # The gate answers instead of staying pending forever.
        assert gate_answer(session, upload_id)["decision"] == "unprocessable"
        assert gate_answer(session, upload_id)["reasons"][0]["code"] == "crashed"
    assert f"upload={upload_id}: giving up: {MAX_SCAN_STARTS} scans" in caplog.text
