"""The worker end to end: real clips through RabbitMQ into PostgreSQL, poison files, duplicate
messages, workers killed mid-scan, a block's alert and Redis as the broker. A database restart
during a batch is not tested: the PostgreSQL server here is shared with other suites and
sessions."""

from __future__ import annotations

import http.server
import json
import os
import random
import signal
import threading

import pytest
from sqlalchemy import select

from moderation.config import Settings
from moderation.db.models import Alert, Scan
from tests.worker.conftest import counts, send_scan, upload, wait_for, wait_for_verdict
from worker.app import create_app
from worker.local import delete_queue

pytestmark = pytest.mark.slow  # each test scans real clips through a worker process

CLIP = "real_ffpp_c23_634.mp4"  # 13 s, 1280x720, real: the detector allows it


def test_a_real_clip_is_allowed(sessions, videos, queue, shared_worker):
    upload_id = upload(sessions, videos / CLIP)
    send_scan(upload_id, queue)
    verdict = wait_for_verdict(sessions, upload_id)
    assert verdict.decision == "allow"
    assert verdict.reasons[-1]["code"] == "no_swap_detected"
    assert counts(sessions, upload_id) == {"verdicts": 1, "current": 1, "scans": 1,
                                           "attempts": [1], "status": "done"}
    # Every line the task logged names the upload.
    lines = [line for line in shared_worker.log().splitlines() if upload_id in line]
    assert any(f"upload={upload_id}: verdict allow" in line for line in lines)


def test_a_poison_file_gets_one_unprocessable_verdict_and_no_retry(sessions, videos, queue,
                                                                     shared_worker, tmp_path):
    poison = tmp_path / "poison.mp4"
    poison.write_bytes(random.Random(1).randbytes(200_000))  # seeded: the same file every run
    upload_id = upload(sessions, poison)
    send_scan(upload_id, queue)
    verdict = wait_for_verdict(sessions, upload_id)
    assert verdict.decision == "unprocessable"
    # Random bytes can also probe as a container without video: both name the file.
    assert verdict.reasons[0]["code"] in {"corrupt", "no_video_stream"}
    assert "poison.mp4" in verdict.reasons[0]["message"]
    # The task finished (no retry queued): the worker logged the verdict once.
    wait_for(lambda: f"upload={upload_id}: verdict unprocessable" in shared_worker.log(),
             30, what="the worker's log line")
    assert shared_worker.log().count(f"upload={upload_id}: verdict") == 1
    assert "retrying" not in shared_worker.log()
    assert counts(sessions, upload_id) == {"verdicts": 1, "current": 1, "scans": 1,
                                           "attempts": [1], "status": "done"}


def test_a_message_delivered_twice_scans_once(sessions, videos, queue, shared_worker):
    upload_id = upload(sessions, videos / "reenact_ffpp_c23_neuraltextures_004_982.mp4")
    send_scan(upload_id, queue)
    send_scan(upload_id, queue)
    wait_for_verdict(sessions, upload_id)
    wait_for(lambda: "reused" in shared_worker.log(), 60, what="the second delivery")
    log = shared_worker.log()
    assert log.count(f"upload={upload_id}: verdict") == 2
    assert log.count(f"upload={upload_id}: verdict allow (reused: scanned before)") == 1
    assert counts(sessions, upload_id) == {"verdicts": 1, "current": 1, "scans": 1,
                                           "attempts": [1], "status": "done"}


def wait_until_running(sessions, upload_id: str) -> None:
    def running():
        with sessions() as session:
            return session.scalar(select(Scan.status).where(Scan.upload_id == upload_id)) \
                == "running"

    wait_for(running, 60, every=0.02, what="the scan to start")


def test_a_pool_process_killed_mid_scan_is_redone_by_the_worker(sessions, videos,
                                                                start_worker):
    worker = start_worker()
    upload_id = upload(sessions, videos / CLIP)
    send_scan(upload_id, worker.queue)
    wait_until_running(sessions, upload_id)
    (child,) = worker.children()
    os.kill(child, signal.SIGKILL)
    # task_reject_on_worker_lost: the message goes back to the queue; a new pool process
    # takes it and scans again in place.
    verdict = wait_for_verdict(sessions, upload_id)
    assert verdict.decision == "allow"
    assert "WorkerLostError" in worker.log() or "signal 9" in worker.log()
    assert counts(sessions, upload_id) == {"verdicts": 1, "current": 1, "scans": 1,
                                           "attempts": [2], "status": "done"}


def test_a_worker_killed_mid_scan_leaves_its_message_to_the_next(sessions, videos,
                                                                 start_worker):
    first = start_worker()
    upload_id = upload(sessions, videos / CLIP)
    send_scan(upload_id, first.queue)
    wait_until_running(sessions, upload_id)
    first.kill()  # the whole worker, as if its machine died: nothing is acknowledged
    assert counts(sessions, upload_id)["verdicts"] == 0
    second = start_worker()
    verdict = wait_for_verdict(sessions, upload_id)
    assert verdict.decision == "allow"
    assert f"upload={upload_id}: verdict allow" in second.log()
    assert counts(sessions, upload_id) == {"verdicts": 1, "current": 1, "scans": 1,
                                           "attempts": [2], "status": "done"}


class _Hook(http.server.BaseHTTPRequestHandler):
    """A webhook receiver that refuses its first alert (HTTP 503) and accepts the rest."""

    received: list = []

    def do_POST(self):  # noqa: N802 (the standard library's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(503 if len(type(self).received) == 1 else 200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture()
def webhook():
    _Hook.received = []
    server = http.server.HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hook"
    server.shutdown()


def test_a_blocked_swap_sends_its_alert_after_the_verdict(sessions, videos, postgres_url,
                                                          start_worker, webhook):
    # A swap of nobody protected, on a platform that blocks those too: the shared clips hold no
    # independent reference of a deepfake's swapped-in person, and a person enrolled from the
    # fake's own footage is an own appearance (review), never a block.
    fake = videos / "fake_ffpp_c23_deepfakes_519_515.mp4"
    worker = start_worker(webhook_url=webhook, webhook_attempts="3", no_match_action="block")
    upload_id = upload(sessions, fake)
    send_scan(upload_id, worker.queue)
    verdict = wait_for_verdict(sessions, upload_id)
    assert verdict.decision == "block"

    def delivered():
        with sessions() as session:
            return session.scalar(select(Alert).where(Alert.verdict_id == verdict.id,
                                                      Alert.delivered_at.is_not(None)))

    alert = wait_for(delivered, 60, what="the alert's delivery")
    # Refused once (a transient fault, retried after a backoff), then accepted; never resent.
    assert alert.attempts == 2
    assert [body["upload_id"] for body in _Hook.received] == [upload_id, upload_id]
    assert _Hook.received[-1]["reasons"][0]["code"] == "swap_detected"
    assert f"alert={alert.id}: transient DeliveryFailed" in worker.log()


REDIS = "redis://127.0.0.1:6379/0"


def test_redis_works_as_the_broker(sessions, start_worker, tmp_path):
    import redis

    try:
        redis.Redis.from_url(REDIS).ping()
    except redis.exceptions.ConnectionError as exc:
        pytest.skip(f"Redis at {REDIS} is not reachable: {exc}")
    worker = start_worker(broker_url=REDIS)
    client = create_app(Settings(broker_url=REDIS, queue=worker.queue))
    try:
        poison = tmp_path / "poison.mp4"
        poison.write_bytes(random.Random(2).randbytes(50_000))
        upload_id = upload(sessions, poison)
        client.send_task("worker.tasks.scan_upload", args=[upload_id], queue=worker.queue)
        assert wait_for_verdict(sessions, upload_id).decision == "unprocessable"
        assert "Connected to redis://" in worker.log()
    finally:
        worker.stop()
        delete_queue(client, worker.queue)
