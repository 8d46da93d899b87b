"""The Celery app, configured from :class:`moderation.config.Settings` (never from the
environment directly). Scans and enrolments go to ``settings.queue``, alert deliveries to
``settings.alert_queue`` and, where it is set, face crops to score to ``settings.scoring_queue``
(``worker.scoring``), each consumed by workers of its own (``moderation-worker``, worker.cli):

    moderation-worker scans      # celery -A worker.app worker -Q moderation --autoscale 2,1
    moderation-worker alerts
    moderation-worker scoring    # on GPU machines, MODERATION_DETECTOR_DEVICE=cuda
"""

from __future__ import annotations

import os

from celery import Celery, signals
from kombu import Exchange, Queue

from moderation.config import Settings, get_settings
from worker.scoring import SCORE_TASK

ALERT_TASK = "worker.tasks.deliver_alert"


def time_limits(settings: Settings) -> tuple[int, int]:
    """(soft, hard) seconds: the soft limit leaves the task time to log and let go before the
    hard limit kills its process."""
    hard = settings.task_time_limit_s
    return hard - max(5, hard // 10), hard


def queues(settings: Settings) -> list[str]:
    """The queues of this deployment: scans and enrolments, alerts, and scoring if it has its
    own."""
    names = [settings.queue, settings.alert_queue]
    if settings.scoring_queue and settings.scoring_queue not in names:
        names.append(settings.scoring_queue)
    return names


def create_app(settings: Settings | None = None) -> Celery:
    settings = settings or get_settings()
    soft, hard = time_limits(settings)
    app = Celery("moderation", broker=settings.broker_url, include=["worker.tasks"],
                 backend=settings.result_backend)
    app.conf.update(
        # Verdicts and alerts live in the database; the only results read are the scores a
        # scoring worker sends back to the scan waiting for them (worker.scoring).
        task_ignore_result=True,
        result_expires=3600,
        task_serializer="json",
        accept_content=["json"],
        # A message is acknowledged only after its task finished, and given back when the
        # process running it dies, so a crash mid-scan is redone by another process. Scans are
        # idempotent (moderation.db.scans), which is what makes running one twice safe.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # Scans take seconds: a process holds one message at a time and leaves the rest to
        # idle workers.
        worker_prefetch_multiplier=1,
        # With late acknowledgement the broker redelivers what a lost connection held; stop the
        # running copy instead of finishing it twice.
        worker_cancel_long_running_tasks_on_connection_loss=True,
        task_soft_time_limit=soft,
        task_time_limit=hard,
        task_default_queue=settings.queue,
        # Declared the way Celery declares a queue it is only told the name of (the API's
        # sender does that), so both sides agree on the exchange.
        task_queues=[Queue(name, Exchange(name), routing_key=name)
                     for name in queues(settings)],
        task_default_routing_key=settings.queue,
        # A block's alert must not wait behind the scans queued before it (minutes each, with
        # one message per process): it has a queue, and workers, of its own.
        task_routes={ALERT_TASK: {"queue": settings.alert_queue},
                     SCORE_TASK: {"queue": settings.scoring_queue or settings.queue}},
        broker_connection_retry_on_startup=True,
        # Redis redelivers an unacknowledged message after this long, also while it is still
        # running or waiting for its retry countdown: keep it well above both.
        broker_transport_options={"visibility_timeout": max(3600, 4 * hard)},
        # Task events on by default, so `celery events` and Flower see tasks without -E; the
        # sent event also covers what this app sends (alerts, retries).
        worker_send_task_events=True,
        task_send_sent_event=True,
    )
    return app


# Logging is ours (moderation.logs), in the main process and, inherited, in the pool's; the
# receiver's presence tells Celery to configure none of its own. `-l` sets the level.
@signals.setup_logging.connect(dispatch_uid="moderation.logging")
def _setup_logging(loglevel=None, **_kwargs) -> None:
    from moderation.logs import configure_logging

    configure_logging(get_settings(), level=loglevel)


@signals.worker_init.connect(dispatch_uid="moderation.metrics")
def _start_metrics(sender=None, **_kwargs) -> None:
    from worker.metrics import start_exporter

    start_exporter(get_settings(), sender.app if sender is not None else app)


@signals.worker_process_shutdown.connect(dispatch_uid="moderation.metrics.exit")
def _process_exited(pid=None, **_kwargs) -> None:
    from worker.metrics import process_exited

    process_exited(pid or os.getpid())


@signals.worker_shutdown.connect(dispatch_uid="moderation.metrics.stop")
def _stop_metrics(**_kwargs) -> None:
    from worker.metrics import stop_exporter

    stop_exporter()


app = create_app()
