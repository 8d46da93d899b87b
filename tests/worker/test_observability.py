"""A real worker's metrics port and log lines: one clip through RabbitMQ into PostgreSQL, then
its exporter scraped over HTTP and its log read back as JSON."""

from __future__ import annotations

import json
import socket

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.worker.conftest import send_scan, upload, wait_for, wait_for_verdict
from worker.app import create_app

CLIP = "real_ffpp_c23_634.mp4"  # 13 s, real: allowed


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def scrape(port: int) -> dict[tuple[str, frozenset], float]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def value(found, name, **labels):
    return found.get((name, frozenset(labels.items())))


def test_task_events_are_on_in_the_app_config():
    conf = create_app().conf
    assert conf.worker_send_task_events is True
    assert conf.task_send_sent_event is True


@pytest.mark.slow
@pytest.mark.services
def test_a_worker_exports_scan_metrics_and_logs_json(sessions, videos, start_worker, tmp_path):
    port = free_port()
    worker = start_worker(worker_metrics_port=str(port),
                          worker_metrics_dir=str(tmp_path / "metrics"))
    before = scrape(port)
    # Queue depth comes from the broker: both of the worker's queues are there, empty.
    assert value(before, "moderation_queue_messages_ready", queue=worker.queue) == 0
    assert value(before, "moderation_queue_messages_ready", queue=worker.alert_queue) == 0
    assert value(before, "moderation_queue_consumers", queue=worker.queue) == 1
    assert value(before, "moderation_queue_broker_up") == 1

    upload_id = upload(sessions, videos / CLIP)
    send_scan(upload_id, worker.queue)
    assert wait_for_verdict(sessions, upload_id).decision == "allow"
    found = wait_for(lambda: (lambda f: f if value(f, "moderation_scans_total",
                                                   outcome="decision") else None)(scrape(port)),
                     30, what="the scan's metrics")
    assert value(found, "moderation_scans_total", outcome="decision") == 1
    assert value(found, "moderation_scan_decisions_total", decision="allow", reused="false") == 1
    assert value(found, "moderation_scan_seconds_count", outcome="decision") == 1
    for stage in ("decode", "faces", "scores", "identity", "database"):
        assert value(found, "moderation_scan_stage_seconds_count", stage=stage) == 1, stage
        assert value(found, "moderation_scan_stage_seconds_sum", stage=stage) > 0, stage
    assert value(found, "moderation_tasks_total", task="worker.tasks.scan_upload",
                 result="success") == 1
    assert any(name == "moderation_detector_info" and value == 1
               for (name, _labels), value in found.items())

    # Every line about the task is JSON naming the task; those it logged name the upload and
    # the stage too. (Celery's start-up banner and its shutdown notice are printed, not logged.)
    wait_for(lambda: "succeeded" in worker.log(), 30, what="the task's last log line")
    ours = [line for line in worker.log().splitlines() if upload_id in line]
    assert ours
    records = [json.loads(line) for line in ours]  # each one is JSON
    task_id = next(r["task_id"] for r in records if r["message"].endswith("verdict allow"))
    assert task_id
    assert all(record["task_id"] == task_id for record in records)
    logged = [r for r in records if r["logger"] == "worker"]
    assert logged and all(r["upload_id"] == upload_id and r["stage"] for r in logged)
    assert next(r for r in logged if "verdict allow" in r["message"])["stage"] == "verdict"
    # Celery's own lines about the task (received, succeeded) carry its id.
    celery_lines = [json.loads(line) for line in worker.log().splitlines()
                    if task_id in line and line.startswith("{")]
    assert {r["logger"] for r in celery_lines} >= {"celery.worker.strategy", "celery.app.trace"}
    assert all(r["task_id"] == task_id for r in celery_lines)
