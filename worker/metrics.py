"""The worker's Prometheus metrics, served by the worker's main process on
``settings.worker_metrics_port`` (0: none) for all its pool processes together.

Celery's prefork pool runs tasks in child processes, so the metrics use prometheus_client's
multiprocess mode: each process writes its values to files in one folder
(``settings.worker_metrics_dir``, or a temporary one), emptied when the worker starts, and the
main process adds them up when scraped. Counters and histograms of pool processes that were
replaced still count; the detector-version gauge counts live processes only. Queue depth is read
from the broker on each scrape (a passive ``queue_declare`` per queue), not from the files.

The metric objects are made on first use in each process, after the exporter chose the
multiprocess value class (``start_exporter`` runs on ``worker_init``, before the pool forks).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from moderation.config import Settings

log = logging.getLogger(__name__)

# Seconds: from a short clip's decode to a long video's whole scan (the time limit is 600 s).
SECONDS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160, 320, 600)

# The analysis' timing keys (VideoAnalysis.timings) under the stage names the metric uses; keys
# not listed here keep their own name, "total" (the sum of the others) is left out.
STAGES = {"decode": "decode", "detect": "faces", "faces": "faces", "score": "scores",
          "scores": "scores", "identify": "identity", "identity": "identity",
          "describe": "identity"}


@dataclass(frozen=True)
class WorkerMetrics:
    tasks: object
    task_seconds: object
    scans: object
    scan_decisions: object
    scan_seconds: object
    stage_seconds: object
    alerts: object
    detector: object

    def task_done(self, task: str, result: str, seconds: float) -> None:
        self.tasks.labels(task=task, result=result).inc()
        self.task_seconds.labels(task=task).observe(seconds)

    def stage(self, stage: str, seconds: float) -> None:
        self.stage_seconds.labels(stage=stage).observe(seconds)

    def scan_timings(self, timings: dict[str, float]) -> None:
        for key, seconds in timings.items():
            if key != "total" and isinstance(seconds, int | float):
                self.stage(STAGES.get(key, key), float(seconds))

    def scan_done(self, outcome: str, seconds: float, decision: str | None = None,
                  reused: bool = False) -> None:
        """``outcome``: decision (a verdict allow, review or block), unprocessable (a verdict
        saying the video cannot be judged, given up included) or failed (no verdict)."""
        self.scans.labels(outcome=outcome).inc()
        self.scan_seconds.labels(outcome=outcome).observe(seconds)
        if decision is not None:
            self.scan_decisions.labels(decision=decision, reused=str(reused).lower()).inc()

    def detector_version(self, version: str) -> None:
        self.detector.labels(version=version).set(1)


@cache
def metrics() -> WorkerMetrics:
    """This process' metrics (not in any registry: the exporter reads them from the files in
    multiprocess mode; with no exporter they are counted and never read)."""
    from prometheus_client import Counter, Gauge, Histogram

    return WorkerMetrics(
        tasks=Counter("moderation_tasks", "Tasks run, by task and result (success, retry, "
                      "gave_up, error)", ["task", "result"], registry=None),
        task_seconds=Histogram("moderation_task_seconds", "Wall time of a task run", ["task"],
                               buckets=SECONDS, registry=None),
        scans=Counter("moderation_scans", "Scans finished, by outcome: decision (a verdict "
                      "allow, review or block), unprocessable, failed (no verdict)",
                      ["outcome"], registry=None),
        scan_decisions=Counter("moderation_scan_decisions", "Verdicts of finished scans; "
                               "reused: an earlier scan's", ["decision", "reused"],
                               registry=None),
        scan_seconds=Histogram("moderation_scan_seconds", "Wall time of a scan task, by outcome",
                               ["outcome"], buckets=SECONDS, registry=None),
        stage_seconds=Histogram("moderation_scan_stage_seconds", "Time of each stage of a scan: "
                                "decode, faces, scores, identity (as the analysis reports "
                                "them), database (SQL statements, lock waits included)",
                                ["stage"], buckets=SECONDS, registry=None),
        alerts=Counter("moderation_alerts", "Alert delivery tries: delivered, skipped (no "
                       "webhook or no such alert), failed (to be retried or given up)",
                       ["result"], registry=None),
        detector=Gauge("moderation_detector_info", "The detector version the worker's pool "
                       "processes loaded (1 per version)", ["version"], registry=None,
                       multiprocess_mode="livemax"),
    )


# Seconds spent in SQL statements by the task running in this context (None: not counted).
_database_time: ContextVar[list[float] | None] = ContextVar("database_time", default=None)


def watch_database(engine) -> None:
    """Count the time of ``engine``'s statements towards the running :func:`database_time`."""
    from sqlalchemy import event

    def before(conn, _cursor, _statement, _parameters, _context, _many):
        conn.info["moderation.started"] = time.perf_counter()

    def after(conn, _cursor, _statement, _parameters, _context, _many):
        started = conn.info.pop("moderation.started", None)
        holder = _database_time.get()
        if started is not None and holder is not None:
            holder[0] += time.perf_counter() - started

    def failed(context):
        # A statement that raised counts too (a lock wait that timed out, say).
        conn = context.connection
        if conn is not None:
            after(conn, None, None, None, None, None)

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    event.listen(engine, "handle_error", failed)


@contextmanager
def database_time() -> Iterator[list[float]]:
    """``with database_time() as spent:`` ``spent[0]`` is the SQL time inside the block."""
    holder = [0.0]
    token = _database_time.set(holder)
    try:
        yield holder
    finally:
        _database_time.reset(token)


class QueueDepth:
    """Messages ready and consumers of each queue, asked of the broker on every scrape."""

    def __init__(self, app, queues: list[str]):
        self.app = app
        self.queues = queues

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        ready = GaugeMetricFamily("moderation_queue_messages_ready",
                                  "Messages waiting in the queue (not yet delivered)",
                                  labels=["queue"])
        consumers = GaugeMetricFamily("moderation_queue_consumers", "Consumers of the queue",
                                      labels=["queue"])
        up = GaugeMetricFamily("moderation_queue_broker_up",
                               "Whether the broker answered this scrape's queue questions")
        answered = 0
        try:
            with self.app.connection_for_read() as connection:
                connection.ensure_connection(max_retries=1)
                for queue in self.queues:
                    # A channel each: a queue that is not there closes the channel it was
                    # asked on.
                    with connection.channel() as channel:
                        try:
                            _, count, consumers_now = channel.queue_declare(queue, passive=True)
                        except Exception as exc:  # the queue is not declared yet
                            log.info("queue %s: %s", queue, exc)
                            continue
                    ready.add_metric([queue], count)
                    consumers.add_metric([queue], consumers_now)
                    answered += 1
        except Exception as exc:
            log.warning("queue depth: the broker did not answer: %s", exc)
        up.add_metric([], 1 if answered else 0)
        yield ready
        yield consumers
        yield up


_exporter: dict[str, object] = {}


def start_exporter(settings: Settings, app) -> int | None:
    """Serve the worker's metrics on ``settings.worker_metrics_port`` (in this, the main,
    process); the port served, or None when the setting is 0."""
    if not settings.worker_metrics_port:
        return None
    from prometheus_client import CollectorRegistry, multiprocess, start_http_server, values

    folder = settings.worker_metrics_dir or Path(tempfile.mkdtemp(prefix="moderation-metrics-"))
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):  # a previous run's processes
        stale.unlink()
    # Read by prometheus_client in every process, the pool's forked ones included.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
    values.ValueClass = values.MultiProcessValue()
    metrics.cache_clear()

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(folder))
    from worker.app import queues

    registry.register(QueueDepth(app, queues(settings)))
    server, thread = start_http_server(settings.worker_metrics_port, registry=registry)
    _exporter.update(folder=folder, server=server, owned=settings.worker_metrics_dir is None)
    log.info("metrics on port %d (files in %s)", settings.worker_metrics_port, folder)
    return settings.worker_metrics_port


def process_exited(pid: int) -> None:
    """A pool process is gone: drop its live gauges (its counters keep counting)."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid, folder)


def stop_exporter() -> None:
    server = _exporter.pop("server", None)
    if server is not None:
        server.shutdown()
    folder = _exporter.pop("folder", None)
    if folder is not None and _exporter.pop("owned", False):
        shutil.rmtree(folder, ignore_errors=True)
