"""Thin tasks: they take ids and call the moderation service. The HTTP API sends
``worker.tasks.scan_upload`` by name with the upload's id."""

from __future__ import annotations

from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy import select

from moderation import alerts
from moderation.db.models import Scan
from moderation.db.scans import give_up
from worker.app import app
from worker.base import ModerationTask

# A scan row still 'running' that was started this often means the processes running it died
# (a decoder crash, the kernel's OOM killer): with late acknowledgement the message would come
# back forever, so stop taking it.
MAX_SCAN_STARTS = 5


@app.task(base=ModerationTask, bind=True, name="worker.tasks.scan_upload")
def scan_upload(self: ModerationTask, upload_id: str) -> dict | None:
    service = self.service
    version = service.detector.version
    starts = _unfinished_starts(service, upload_id, version)
    if starts >= MAX_SCAN_STARTS:
        self.log.error("giving up: %d scans of this upload died before finishing", starts)
        give_up(service.sessions, upload_id, version, "crashed",
                f"The scan stopped its worker {starts} times; the video cannot be processed.")
        return None
    try:
        outcome = service.scan(upload_id)
    except SoftTimeLimitExceeded:
        self.log.error("giving up: the scan ran past its time limit")
        give_up(service.sessions, upload_id, version, "too_slow",
                f"The scan ran past its time limit of {self.settings.task_time_limit_s} s.")
        return None
    self.log.info("verdict %s%s", outcome.decision,
                  " (reused: scanned before)" if outcome.reused else "")
    # scan() returned, so the verdict and its alert are committed: the follow-up can see them.
    if outcome.alert_id is not None and self.settings.webhook_url:
        deliver_alert.delay(outcome.alert_id)
        self.log.info("alert %s queued", outcome.alert_id)
    return {"upload_id": upload_id, "verdict_id": outcome.verdict_id,
            "decision": outcome.decision}


class AlertTask(ModerationTask):
    def retry_limit(self) -> int:
        # webhook_attempts counts the first try.
        return self.settings.webhook_attempts - 1


@app.task(base=AlertTask, bind=True, name="worker.tasks.deliver_alert",
          soft_time_limit=45, time_limit=60)
def deliver_alert(self: AlertTask, alert_id: int) -> bool:
    delivered = alerts.deliver_alert(self.service.sessions, alert_id, self.settings.webhook_url)
    self.log.info("delivered" if delivered else "not delivered (no webhook or no such alert)")
    return delivered


def _unfinished_starts(service, upload_id: str, detector_version: str) -> int:
    with service.sessions() as session:
        attempts = session.scalar(select(Scan.attempts).where(
            Scan.upload_id == upload_id, Scan.detector_version == detector_version,
            Scan.status == "running"))
    return attempts or 0
