"""Sending an upload's scan to the worker queue."""

from __future__ import annotations

import threading
from collections.abc import Callable

from moderation.config import Settings

SCAN_TASK = "worker.tasks.scan_upload"

Enqueue = Callable[[str], None]


def celery_enqueue(settings: Settings) -> Enqueue:
    """An ``enqueue(upload_id)`` that sends the worker's scan task by name.

    Celery is imported on the first call, so the API starts (and its tests run) without a
    broker; the task goes to ``settings.queue``, the queue the scan workers consume.
    """
    lock = threading.Lock()
    client = None

    def enqueue(upload_id: str) -> None:
        nonlocal client
        with lock:
            if client is None:
                from celery import Celery

                client = Celery("moderation-gate", broker=settings.broker_url)
        client.send_task(SCAN_TASK, args=[upload_id], queue=settings.queue)

    return enqueue
