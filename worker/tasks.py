"""Thin tasks: they take ids and call the moderation service. The HTTP API sends
``worker.tasks.scan_upload`` by name with the upload's id."""

from __future__ import annotations

from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy import select

from moderation import alerts
from moderation.db.models import Scan
from moderation.db.persons import fail_enrolment
from moderation.db.uploads import UnknownUpload
from moderation.errors import ConfigError, ModelWeightsMissing, SourceMissing
from moderation.logs import log_stage
from moderation.service import give_up
from worker.app import ALERT_TASK, SCORE_TASK, app
from worker.base import TRANSIENT, ModerationTask, is_database_fault, is_transient
from worker.metrics import database_time
from worker.scoring import score_batch

# A scan row still 'running' that was started this often means the processes running it died
# (a decoder crash, the kernel's OOM killer): with late acknowledgement the message would come
# back forever, so stop taking it.
MAX_SCAN_STARTS = 5


class ScanTask(ModerationTask):
    def finished(self, result: str, seconds: float, noted: dict) -> None:
        decision = noted.get("decision")
        if decision is not None:
            outcome = "unprocessable" if decision == "unprocessable" else "decision"
        elif result == "retry":
            return  # counted when a later try finishes
        else:
            outcome = "failed"  # no verdict recorded: an error, or nothing to record on
        self.metrics.scan_done(outcome, seconds, decision, noted.get("reused", False))
        self.metrics.scan_timings(noted.get("timings", {}))

    def outlasts(self, exc: BaseException) -> bool:
        # A scan that gives up records an unprocessable verdict, which needs the database: while
        # it cannot be reached, giving up would leave the upload pending for good (the message
        # acknowledged, no verdict, the scan 'running'), so the scan retries until it answers.
        return is_database_fault(exc)


@app.task(base=ScanTask, bind=True, name="worker.tasks.scan_upload")
def scan_upload(self: ScanTask, upload_id: str) -> dict | None:
    service = self.service
    with log_stage("load"):
        version = service.detector.version
        self.metrics.detector_version(version)
        # Starts beyond this task's own retries (a missing file's, say) are processes that died.
        starts = _unfinished_starts(service, upload_id, version) - self.request.retries
    if starts >= MAX_SCAN_STARTS:
        self.log.error("giving up: %d scans of this upload died before finishing", starts)
        _give_up(self, upload_id, version, "crashed",
                 f"The scan stopped its worker {starts} times; the video cannot be processed.")
        return None
    try:
        # The analysis times its own stages (decode, faces, ...); they are read back from the
        # scan's row below. SQL statements are timed as they run (worker.metrics).
        with log_stage("scan"), database_time() as database:
            outcome = service.scan(upload_id)
    except SoftTimeLimitExceeded:
        self.log.error("giving up: the scan ran past its time limit")
        _give_up(self, upload_id, version, "too_slow",
                 f"The scan ran past its time limit of {self.settings.task_time_limit_s} s.")
        return None
    except (UnknownUpload, ConfigError, ModelWeightsMissing):
        raise  # nothing to record on, or the deployment must be fixed: the base class logs it
    except Exception as exc:
        if is_transient(exc) and self.request.retries < self.retry_limit():
            raise  # the base class retries it
        # Whatever else broke, the upload must not stay pending with its scan 'running'.
        code, message = _final_reason(exc, self.request.retries + 1)
        self.log.error("giving up: %s: %s", type(exc).__name__, exc,
                       exc_info=not isinstance(exc, SourceMissing))
        _give_up(self, upload_id, version, code, message)
        return None
    self.note(decision=outcome.decision, reused=outcome.reused)
    with log_stage("verdict"):
        if not outcome.reused:
            timings = dict(_scan_timings(service, upload_id, version))
            timings["database"] = database[0]
            self.note(timings=timings)
        self.log.info("verdict %s%s", outcome.decision,
                      " (reused: scanned before)" if outcome.reused else "")
    # scan() returned, so the verdict and its alert are committed: the follow-up can see them.
    if outcome.alert_id is not None and self.settings.webhook_url:
        with log_stage("alert"):
            deliver_alert.delay(outcome.alert_id)
            self.log.info("alert %s queued", outcome.alert_id)
    return {"upload_id": upload_id, "verdict_id": outcome.verdict_id,
            "decision": outcome.decision}


def _give_up(self: ScanTask, upload_id: str, version: str, code: str, message: str) -> None:
    with log_stage("give_up"):
        outcome = give_up(self.service.sessions, upload_id, version, code, message)
    self.note(decision=outcome.decision, reused=outcome.reused)


def _scan_timings(service, upload_id: str, detector_version: str) -> dict[str, float]:
    """The stage timings the analysis reported (VideoAnalysis.timings), as the scan's row keeps
    them."""
    with service.sessions() as session:
        timings = session.scalar(select(Scan.timings).where(
            Scan.upload_id == upload_id, Scan.detector_version == detector_version))
    return timings or {}


class AlertTask(ModerationTask):
    def finished(self, result: str, seconds: float, noted: dict) -> None:
        if "delivered" in noted:
            self.metrics.alerts.labels(result="delivered" if noted["delivered"]
                                       else "skipped").inc()
        else:
            self.metrics.alerts.labels(result="failed").inc()  # retried or given up

    @property
    def max_retries(self) -> int:
        # Read from the settings when a retry is decided (Celery's retry() and autoretry read
        # this attribute), so MODERATION_WEBHOOK_ATTEMPTS counts every try, the first included.
        return self.settings.webhook_attempts - 1


# On the alert queue (worker.app's task_routes). A refused delivery, or a database or broker
# fault, is retried by Celery's own options: exponential backoff from 2 s, with full jitter so
# that alerts refused together are not retried together, capped below RabbitMQ's consumer
# timeout; after max_retries the base class logs that it gives up.
@app.task(base=AlertTask, bind=True, name=ALERT_TASK, acks_late=True,
          autoretry_for=TRANSIENT, retry_backoff=2, retry_backoff_max=600, retry_jitter=True,
          soft_time_limit=45, time_limit=60)
def deliver_alert(self: AlertTask, alert_id: int) -> bool:
    settings = self.settings
    with log_stage("deliver"):
        delivered = alerts.deliver_alert(self.service.sessions, alert_id, settings.webhook_url,
                                         settings.alert_secret.get_secret_value())
    self.note(delivered=delivered)
    self.log.info("delivered" if delivered else "not delivered (no webhook or no such alert)")
    return delivered


class ScoringTask(ModerationTask):
    def _run(self, *args, **kwargs):
        # Every error goes back to the scan waiting for these scores, which decides (retry on
        # another scoring worker, or give up with a verdict); none is swallowed here.
        return self.run(*args, **kwargs)


# On the scoring queue (worker.app's task_routes), consumed by scoring workers: GPU machines,
# or any worker started with that queue. Not retried here: the scan that waits retries.
@app.task(base=ScoringTask, bind=True, name=SCORE_TASK, ignore_result=False,
          soft_time_limit=60, time_limit=90)
def score_crops(self: ScoringTask, crops: str, detector_version: str) -> list[float]:
    with log_stage("score"):
        scores = score_batch(self.service.own_detector, crops, detector_version)
    self.metrics.detector_version(detector_version)
    return scores


def _final_reason(exc: BaseException, tries: int) -> tuple[str, str]:
    """The code and message of the unprocessable verdict for a scan that cannot finish; the
    message names no internals (it is shown to the uploader)."""
    if isinstance(exc, SourceMissing):
        return "missing", (f"{exc.source}: no file arrived at this path after {tries} tries; "
                           "upload it again.")
    return "scan_failed", (f"The scan failed ({type(exc).__name__}) after {tries} "
                           f"{'try' if tries == 1 else 'tries'}; the video cannot be processed.")


def _unfinished_starts(service, upload_id: str, detector_version: str) -> int:
    with service.sessions() as session:
        attempts = session.scalar(select(Scan.attempts).where(
            Scan.upload_id == upload_id, Scan.detector_version == detector_version,
            Scan.status == "running"))
    return attempts or 0


@app.task(base=ModerationTask, bind=True, name="worker.tasks.enroll_person",
          soft_time_limit=300, time_limit=360)
def enroll_person(self: ModerationTask, enrolment_id: str) -> str | None:
    """Describe the sources of an enrolment the API accepted (202); the client polls its
    status. A source without a face or missing fails the enrolment, not the task."""
    try:
        status = self.service.run_enrolment(enrolment_id)
    except SoftTimeLimitExceeded:
        with self.service.sessions() as session, session.begin():
            fail_enrolment(session, enrolment_id, "the sources took too long to describe")
        return "failed"
    self.log.info("enrolment %s: %s", enrolment_id, status)
    return status
