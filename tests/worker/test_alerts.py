"""Alerts a receiver can trust, on the real PostgreSQL and a real HTTP receiver: signed so that
the README's verification snippet accepts them and refuses a tampered body, retried by Celery's
own retry options (in process, and by a real worker on RabbitMQ), on a queue of their own."""

from __future__ import annotations

import http.server
import json
import logging
import re
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from moderation.alerts import (
    ALERT_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    alert_request,
    deliver_alert,
)
from moderation.config import Settings
from moderation.db.models import Alert
from tests.worker.conftest import BROKER, new_alert, wait_for
from worker import base
from worker import tasks as worker_tasks
from worker.app import ALERT_TASK, create_app
from worker.local import alert_queue_of

SECRET = "s3cret-for-the-tests"
README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture(scope="module")
def verify_alert():
    """The receiver's snippet as the README documents it, run as written."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    (snippet,) = [block for block in blocks if "def verify_alert(" in block]
    namespace: dict = {}
    exec(compile(snippet, "README.md (verify_alert)", "exec"), namespace)
    return namespace["verify_alert"]


class Receiver(http.server.BaseHTTPRequestHandler):
    """A webhook receiver answering with the next of ``answers`` (200 once they run out),
    recording each request's headers and raw body."""

    answers: list[int] = []
    received: list[tuple[dict, bytes]] = []

    def do_POST(self):  # noqa: N802 (the standard library's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers), body))
        self.send_response(type(self).answers.pop(0) if type(self).answers else 200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture()
def receiver():
    """``(url, set_answers)``: the receiver's URL and a way to script its answers."""
    Receiver.answers, Receiver.received = [], []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hook"
    server.shutdown()
    server.server_close()


def stored(sessions, alert_id: int) -> Alert:
    with sessions() as session:
        return session.get(Alert, alert_id)


def signed(headers: dict) -> tuple[str | None, str | None]:
    return headers.get(TIMESTAMP_HEADER), headers.get(SIGNATURE_HEADER)


def test_a_delivered_alert_verifies_with_the_readme_snippet(sessions, receiver, verify_alert):
    alert_id = new_alert(sessions)
    assert deliver_alert(sessions, alert_id, receiver, SECRET)
    ((headers, body),) = Receiver.received
    assert json.loads(body)["alert_id"] == alert_id
    assert json.loads(body)["reasons"][0]["message"] == "Ann Éxample, 3–7 s"
    assert headers[ALERT_ID_HEADER] == str(alert_id)
    assert headers["Content-Type"] == "application/json"
    timestamp, signature = signed(headers)
    assert abs(int(timestamp) - time.time()) < 60 and signature.startswith("sha256=")
    assert verify_alert(SECRET.encode(), body, timestamp, signature)
    assert stored(sessions, alert_id).delivered_at is not None


def test_tampering_a_wrong_secret_a_stale_timestamp_and_no_signature_fail(verify_alert):
    body, headers = alert_request(7, {"decision": "block", "upload_id": "u"}, SECRET)
    timestamp, signature = signed(headers)
    assert verify_alert(SECRET.encode(), body, timestamp, signature)
    tampered = body.replace(b'"block"', b'"allow"')
    assert tampered != body
    assert not verify_alert(SECRET.encode(), tampered, timestamp, signature)
    assert not verify_alert(SECRET.encode(), body + b" ", timestamp, signature)
    assert not verify_alert(b"another secret", body, timestamp, signature)
    # The timestamp is signed: moving it to look fresh breaks the signature ...
    assert not verify_alert(SECRET.encode(), body, str(int(timestamp) + 1), signature)
    # ... and an old request (a replay) is refused past the tolerance, a future one too.
    assert verify_alert(SECRET.encode(), body, timestamp, signature, now=int(timestamp) + 299)
    assert not verify_alert(SECRET.encode(), body, timestamp, signature, now=int(timestamp) + 301)
    assert not verify_alert(SECRET.encode(), body, timestamp, signature, now=int(timestamp) - 301)
    assert not verify_alert(SECRET.encode(), body, None, None)
    assert not verify_alert(SECRET.encode(), body, "soon", signature)
    assert not verify_alert(SECRET.encode(), body, timestamp, "sha256=ünïcode")


def test_without_a_secret_alerts_go_out_unsigned_and_say_so(sessions, receiver, verify_alert,
                                                            caplog):
    alert_id = new_alert(sessions)
    with caplog.at_level(logging.WARNING, logger="moderation.alerts"):
        assert deliver_alert(sessions, alert_id, receiver, "")
    ((headers, body),) = Receiver.received
    assert SIGNATURE_HEADER not in headers and TIMESTAMP_HEADER in headers
    assert not verify_alert(SECRET.encode(), body, *signed(headers))
    assert f"alert {alert_id} goes out unsigned: MODERATION_ALERT_SECRET is unset" in caplog.text


def test_the_alert_task_retries_with_celerys_own_options(configure):
    task = worker_tasks.deliver_alert
    assert task.name == ALERT_TASK
    assert base.DeliveryFailed in task.autoretry_for
    assert set(base.TRANSIENT) <= set(task.autoretry_for)
    assert task.retry_backoff == 2 and task.retry_backoff_max == 600
    assert task.retry_jitter is True and task.acks_late is True
    configure(webhook_attempts=4)
    assert task.max_retries == 3  # the attempts setting counts the first try
    configure(webhook_attempts=1)
    assert task.max_retries == 0
    # Celery wrapped the task's body to retry what autoretry_for names.
    assert hasattr(task, "_orig_run")


def test_a_receiver_failing_twice_gets_the_alert_on_the_third_try(sessions, receiver,
                                                                  configure, caplog,
                                                                  verify_alert):
    """In process: Celery's eager apply() follows the retries autoretry schedules (without
    their countdowns)."""
    configure(webhook_url=receiver, webhook_attempts=3, alert_secret=SECRET)
    alert_id = new_alert(sessions)
    Receiver.answers = [503, 500]
    with caplog.at_level(logging.INFO):
        result = worker_tasks.deliver_alert.apply(args=[alert_id])
    assert result.successful() and result.result is True
    assert stored(sessions, alert_id).attempts == 3
    assert len(Receiver.received) == 3
    for headers, body in Receiver.received:  # every try is signed afresh
        assert verify_alert(SECRET.encode(), body, *signed(headers))
    assert f"alert={alert_id}: transient DeliveryFailed (try 1)" in caplog.text
    assert f"alert={alert_id}: transient DeliveryFailed (try 2)" in caplog.text
    assert "giving up" not in caplog.text


def test_alerts_are_routed_to_their_own_queue():
    app = create_app(Settings(queue="scans-q", alert_queue="alerts-q"))
    router = app.amqp.router
    assert router.route({}, ALERT_TASK)["queue"].name == "alerts-q"
    assert router.route({}, "worker.tasks.scan_upload")["queue"].name == "scans-q"
    assert router.route({}, "worker.tasks.enroll_person")["queue"].name == "scans-q"
    assert {queue.name for queue in app.conf.task_queues} == {"scans-q", "alerts-q"}
    defaults = create_app(Settings())
    assert defaults.amqp.router.route({}, ALERT_TASK)["queue"].name == "moderation-alerts"


@pytest.mark.slow  # a worker process starts
def test_a_real_worker_retries_a_refused_alert_until_it_is_delivered(sessions, receiver,
                                                                     start_worker,
                                                                     verify_alert):
    """A worker on RabbitMQ consuming a scan queue and an alert queue of its own: the alert is
    sent by task name alone (routed to the alert queue), refused twice, retried by Celery
    after its backoff, then delivered, signed, once."""
    alert_id = new_alert(sessions)
    Receiver.answers = [503, 503]
    scans, alerts = start_worker.queue, alert_queue_of(start_worker.queue)
    client = create_app(Settings(broker_url=BROKER, queue=scans, alert_queue=alerts))
    client.send_task(ALERT_TASK, args=[alert_id])

    def waiting_in(queue: str) -> int:
        with client.connection_for_write() as connection:
            return connection.default_channel.queue_declare(queue, passive=True).message_count

    # Before any worker runs: the message waits in the alert queue (declared by the sender).
    wait_for(lambda: waiting_in(alerts) == 1, 10, what="the alert's message in its queue")
    worker = start_worker(webhook_url=receiver, webhook_attempts="4", alert_secret=SECRET)
    assert worker.alert_queue == alerts

    def delivered():
        alert = stored(sessions, alert_id)
        return alert if alert.delivered_at is not None else None

    alert = wait_for(delivered, 90, what="the alert's delivery")
    assert alert.attempts == 3 and len(Receiver.received) == 3
    for headers, body in Receiver.received:
        assert verify_alert(SECRET.encode(), body, *signed(headers))
    log = worker.log()
    assert f"alert={alert_id}: transient DeliveryFailed (try 1)" in log
    assert f"alert={alert_id}: transient DeliveryFailed (try 2)" in log
    assert f"alert={alert_id}: delivered" in log
    with sessions() as session:
        assert session.scalar(select(Alert.attempts).where(Alert.id == alert_id)) == 3
