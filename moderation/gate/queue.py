"""Sending an upload's scan to the worker queue."""

from __future__ import annotations

import threading
from collections.abc import Callable

from moderation.config import Settings

SCAN_TASK = "worker.tasks.scan_upload"
ENROL_TASK = "worker.tasks.enroll_person"

Enqueue = Callable[[str], None]


def celery_enqueue(settings: Settings, task: str = SCAN_TASK) -> Enqueue:
    """An ``enqueue(id)`` that sends a worker task by name: the scan of an upload by default,
    or ``ENROL_TASK`` with an enrolment's id.

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
        client.send_task(task, args=[upload_id], queue=settings.queue)

    return enqueue
