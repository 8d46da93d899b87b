"""The default enqueue sends the worker's task by name, without importing the worker."""

from __future__ import annotations

from kombu import Connection

from moderation.config import Settings
from moderation.gate.queue import SCAN_TASK, celery_enqueue


def test_the_scan_task_is_sent_by_name_to_the_configured_queue():
    settings = Settings(broker_url="memory://", queue="moderation-gate-test")
    enqueue = celery_enqueue(settings)
    enqueue("upload-1")
    with Connection("memory://") as connection:
        queue = connection.SimpleQueue(settings.queue)
        message = queue.get(timeout=5)
        message.ack()
        queue.close()
    assert message.headers["task"] == SCAN_TASK == "worker.tasks.scan_upload"
    args, kwargs, _ = message.decode()
    assert (args, kwargs) == (["upload-1"], {})
