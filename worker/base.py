"""The base class of every task: one moderation service per worker process, log context (the
upload or alert at hand and the task's id on every line, ``moderation.logs``), the metrics every
task has (``worker.metrics``), and sorting errors into "retry later" and "give up"."""

from __future__ import annotations

import inspect
import logging
import os
import time
from contextvars import ContextVar

import amqp.exceptions
import celery
import kombu.exceptions
import redis.exceptions
from celery.exceptions import Retry, SoftTimeLimitExceeded
from celery.utils.log import get_task_logger
from celery.utils.time import get_exponential_backoff_interval
from sqlalchemy import exc as sa

from moderation.alerts import DeliveryFailed
from moderation.config import Settings, get_settings
from moderation.db.uploads import UnknownUpload
from moderation.errors import ConfigError, InputError, ModelWeightsMissing, SourceMissing
from moderation.logs import current_context, log_context
from moderation.service import Moderation
from worker.metrics import WorkerMetrics, metrics, watch_database
from worker.scoring import DetectorMismatch, QueuedScoring, ScoringUnavailable

logger = get_task_logger("worker")

# Faults of the things around a task, not of its input: the same task succeeds once they pass.
TRANSIENT: tuple[type[BaseException], ...] = (
    # PostgreSQL restarting or failing over, a dropped connection, a serialization failure or a
    # deadlock between two scans (psycopg2 reports those as OperationalError too).
    sa.OperationalError,
    # The driver's connection was closed under it (psycopg2 InterfaceError).
    sa.InterfaceError,
    # The broker went away while a task sent a follow-up (deliver_alert) or a retry.
    kombu.exceptions.OperationalError,
    amqp.exceptions.ConnectionError,
    redis.exceptions.ConnectionError,
    ConnectionError,
    # Another process on the machine held the memory for a while (two large videos at once);
    # the retry runs later, usually beside a smaller one.
    MemoryError,
    # The webhook's receiver was down or refused the alert; it is sent at most once anyway.
    DeliveryFailed,
    # Nothing at the upload's path yet: the file may still be arriving (the scan task gives up
    # with an unprocessable verdict after the last retry).
    SourceMissing,
    # No scoring worker answered in time, or the one that did runs the other side of a rolling
    # upgrade's checkpoint (worker.scoring).
    ScoringUnavailable,
    DetectorMismatch,
)

# Faults of the input or of the deployment: the same task fails the same way every time.
PERMANENT: tuple[type[BaseException], ...] = (
    # A bad video; scan_upload has already recorded it as an unprocessable verdict.
    InputError,
    # The upload was deleted, or the id was never registered.
    UnknownUpload,
    # A wrong setting or missing model weights: an operator must fix the deployment first.
    ConfigError,
    ModelWeightsMissing,
    # The task ran out of time; the same video would again.
    SoftTimeLimitExceeded,
)


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, TRANSIENT):
        return True
    # Any other DB-API error that cost the connection (SQLAlchemy invalidates it) is a
    # connection fault whatever its class.
    return isinstance(exc, sa.DBAPIError) and exc.connection_invalidated


def is_database_fault(exc: BaseException) -> bool:
    """The database cannot be reached or dropped the connection (also a deadlock or a
    serialization failure, which psycopg2 reports the same way)."""
    return isinstance(exc, sa.OperationalError | sa.InterfaceError) or (
        isinstance(exc, sa.DBAPIError) and exc.connection_invalidated)


# Named in the message too, so that a line reads (and greps) the same in either log format.
PREFIXED = ("upload_id", "alert_id", "enrolment_id")


class ContextAdapter(logging.LoggerAdapter):
    """Prefixes every message with the task's ids (``upload=... alert=...``) and adds them to
    the record's ``extra`` (the log filter adds the rest of the context: task id, stage)."""

    def process(self, msg, kwargs):
        context = {key: value for key, value in current_context().items()
                   if key in PREFIXED}
        kwargs.setdefault("extra", {}).update(context)
        prefix = " ".join(f"{key.removesuffix('_id')}={value}" for key, value in context.items())
        return (f"{prefix}: {msg}" if prefix else msg), kwargs


# One service (database engine and detector) per worker process. Created on first use in the
# process that runs tasks, never in the parent before the pool forks: a forked copy would share
# the parent's database connections.
_services: dict[int, Moderation] = {}


_GAVE_UP = object()  # what _run returns for a permanent error it logged
_noted: ContextVar[dict | None] = ContextVar("task_noted", default=None)


class ModerationTask(celery.Task):
    """Base class of the worker's tasks. Subclasses' keyword ``*_id`` arguments become log
    context; ``max_retries`` and the backoff below bound transient retries."""

    max_retries = 5
    backoff_factor_s = 2
    # Below RabbitMQ's consumer timeout (30 min): a retry waits for its countdown in the worker
    # holding its unacknowledged message.
    backoff_max_s = 600
    context_keys = ("upload_id", "alert_id", "enrolment_id")

    @property
    def settings(self) -> Settings:
        return get_settings()

    @property
    def service(self) -> Moderation:
        pid = os.getpid()
        if pid not in _services:
            settings = self.settings
            # With a scoring queue, this process's scans hand their crops to its workers;
            # the scoring task itself scores with the service's own model.
            remote = QueuedScoring(self.app, settings) if settings.scoring_queue else None
            service = Moderation(settings, score_remotely=remote)
            watch_database(service.sessions.kw["bind"])
            _services[pid] = service
        return _services[pid]

    @property
    def metrics(self) -> WorkerMetrics:
        return metrics()

    @property
    def log(self) -> ContextAdapter:
        return ContextAdapter(logger, {})

    def __call__(self, *args, **kwargs):
        bound = inspect.signature(self.run).bind_partial(*args, **kwargs).arguments
        context = {key: bound[key] for key in self.context_keys if key in bound}
        started = time.perf_counter()
        result = "error"
        noted: dict = {}
        token = _noted.set(noted)
        with log_context(task=self.name, task_id=self.request.id, **context):
            try:
                value = self._run(*args, **kwargs)
                result = "success" if value is not _GAVE_UP else "gave_up"
                return None if value is _GAVE_UP else value
            except Retry:
                result = "retry"
                raise
            finally:
                _noted.reset(token)
                seconds = time.perf_counter() - started
                self.metrics.task_done(self.name, result, seconds)
                self.finished(result, seconds, noted)

    def note(self, **facts) -> None:
        """Remember ``facts`` about this run for :meth:`finished`."""
        noted = _noted.get()
        if noted is not None:
            noted.update(facts)

    def finished(self, result: str, seconds: float, noted: dict) -> None:
        """After each run, with its result (success, retry, gave_up, error), its wall time and
        what the run :meth:`note`-d: where a task records its own metrics."""

    def _run(self, *args, **kwargs):
        try:
            return self.run(*args, **kwargs)
        except PERMANENT as exc:
            self.log.error("giving up, retrying cannot help: %s: %s", type(exc).__name__, exc)
            return _GAVE_UP
        except Retry as retry:
            # Scheduled by Celery's own retry options (a task's ``autoretry_for``); logged as
            # the retries below are. Past the task's ``max_retries`` Celery raises the error
            # itself instead, which the clause below gives up on.
            self.log.warning("transient %s (try %d), retrying in %s s: %s",
                             type(retry.exc).__name__ if retry.exc else "error",
                             self.request.retries + 1, retry.when, retry.exc)
            raise
        except Exception as exc:
            if not is_transient(exc):
                raise
            retries = self.request.retries
            limit = self.retry_limit()
            if retries >= limit:
                if not self.outlasts(exc):
                    self.log.error("giving up after %d tries: %s: %s", retries + 1,
                                   type(exc).__name__, exc)
                    raise
                limit = retries + 1
            countdown = self.backoff(retries)
            self.log.warning("transient %s (try %d), retrying in %d s: %s",
                             type(exc).__name__, retries + 1, countdown, exc)
            raise self.retry(exc=exc, countdown=countdown, max_retries=limit) from exc

    def retry_limit(self) -> int:
        return self.max_retries

    def outlasts(self, exc: BaseException) -> bool:
        """Whether the transient ``exc`` is retried past :meth:`retry_limit`, because giving up
        on it would lose the task's work."""
        return False

    def backoff(self, retries: int) -> int:
        """Exponential with full jitter, so tasks that failed together do not retry together."""
        return get_exponential_backoff_interval(self.backoff_factor_s, retries,
                                                self.backoff_max_s, full_jitter=True)
