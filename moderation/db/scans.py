"""Recording a scan of an upload: safe to run twice.

A scan is keyed by (upload, detector version). ``begin_scan`` marks it running, or answers with
the verdict of one that already finished; ``record_scan`` stores the analysis and the decision
it is given and makes that verdict current. Between the two, outside any transaction (so a slow
video never holds row locks), the caller (``moderation.service``) runs the pipeline and the
policy: this module knows neither. Running a finished scan again changes nothing; running it
again after a crash mid-scan redoes it in place; a new detector version adds a scan and a
verdict and keeps the older ones as history.

Two deliveries of one scan at once (a redelivery, a rescan while the first still analyses) run
one after the other: each holds a PostgreSQL advisory lock (``scan_lock``) on the upload for its
whole scan, so the second finds the first's verdict and reuses it. Without that both recorded:
the second deleted the first verdict, and with it the delivered alert and the review made in
between.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from moderation.db.models import Alert, Evidence, FaceTrack, Scan, Upload, Verdict, now
from moderation.db.uploads import audit, get_upload
from moderation.records import VideoAnalysis


@dataclass(frozen=True)
class ScanOutcome:
    upload_id: str
    verdict_id: str
    decision: str
    reasons: list[dict]
    alert_id: int | None
    reused: bool  # True when an earlier finished scan answered


@dataclass(frozen=True)
class ScanStarted:
    """A scan marked running: what the caller needs to analyse the upload."""

    scan_id: str
    source: str
    uploader_id: str


class Decided(Protocol):
    """What is recorded of a decision (``policy.decide.Decision`` has it)."""

    decision: str
    reasons: list[dict]


def begin_scan(sessions: sessionmaker[Session], upload_id: str,
               detector_version: str) -> ScanStarted | ScanOutcome:
    """Mark the upload's scan by ``detector_version`` running (created when new); the outcome
    of that scan instead when it already finished."""
    with sessions() as session, session.begin():
        upload = _locked(session, upload_id)
        scan = session.scalar(select(Scan).where(Scan.upload_id == upload_id,
                                                 Scan.detector_version == detector_version))
        if scan is not None and scan.status in ("done", "failed"):
            return _finished(session, upload_id, scan)
        if scan is None:
            scan = Scan(upload_id=upload_id, detector_version=detector_version, attempts=0)
            session.add(scan)
        scan.attempts += 1
        scan.status = "running"
        upload.status = "scanning"
        session.flush()
        return ScanStarted(scan.id, upload.source, upload.uploader_id)


def open_scan(sessions: sessionmaker[Session], upload_id: str, detector_version: str) -> str:
    """The id of the upload's scan by ``detector_version``, created when new (to record a scan
    that cannot finish)."""
    with sessions() as session, session.begin():
        _locked(session, upload_id)
        scan = session.scalar(select(Scan).where(Scan.upload_id == upload_id,
                                                 Scan.detector_version == detector_version))
        if scan is None:
            scan = Scan(upload_id=upload_id, detector_version=detector_version, attempts=0)
            session.add(scan)
            session.flush()
        return scan.id


@contextmanager
def scan_lock(sessions: sessionmaker[Session], upload_id: str) -> Iterator[None]:
    """A session-level advisory lock on the upload, on a connection of its own outside any
    transaction: it locks no rows while a video is analysed, and it goes with the connection
    when the process holding it dies. SQLite (the embedded scan) has one writer anyway."""
    engine = sessions.kw["bind"]
    if engine.dialect.name != "postgresql":
        yield
        return
    key = _lock_key(upload_id)
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
        connection.commit()
        try:
            yield
        finally:
            try:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                connection.commit()
            except DBAPIError:
                connection.invalidate()  # never back to the pool while it may hold the lock


def _lock_key(upload_id: str) -> int:
    """A signed 64-bit advisory lock key, namespaced so other advisory locks cannot collide."""
    digest = hashlib.sha256(f"moderation.scan:{upload_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _finished(session: Session, upload_id: str, scan: Scan) -> ScanOutcome:
    verdict = session.scalar(select(Verdict).where(Verdict.scan_id == scan.id))
    alert = session.scalar(select(Alert.id).where(Alert.verdict_id == verdict.id))
    return ScanOutcome(upload_id, verdict.id, verdict.decision, verdict.reasons, alert, True)


def _locked(session: Session, upload_id: str) -> Upload:
    # FOR UPDATE serialises two deliveries of one upload's scan on PostgreSQL (SQLite has one
    # writer at a time anyway).
    upload = session.scalar(select(Upload).where(Upload.id == upload_id).with_for_update())
    if upload is None:
        get_upload(session, upload_id)  # raises UnknownUpload
    return upload


def record_scan(sessions: sessionmaker[Session], upload_id: str, scan_id: str,
                detector_version: str, decision: Decided, analysis: VideoAnalysis | None = None,
                error: str | None = None) -> ScanOutcome:
    """Store ``analysis`` (None when the video could not be analysed, ``error`` saying why)
    and the verdict of ``decision`` as the upload's current one; a block adds its alert. A scan
    finished meanwhile keeps its verdict."""
    with sessions() as session, session.begin():
        upload = _locked(session, upload_id)
        scan = session.get(Scan, scan_id)
        if scan.status in ("done", "failed"):
            # Finished by someone else (only possible without the advisory lock): its verdict,
            # alert and the reviews of it stand.
            return _finished(session, upload_id, scan)
        # A crash after an earlier attempt wrote nothing durable, but be exact anyway.
        session.execute(delete(Verdict).where(Verdict.scan_id == scan_id))
        session.execute(delete(FaceTrack).where(FaceTrack.scan_id == scan_id))
        if analysis is not None:
            for track in analysis.tracks:
                row = FaceTrack(scan_id=scan_id, track_index=track.track, start_s=track.start,
                                end_s=track.end, score=track.score,
                                median_side=track.median_side, times=track.times,
                                scores=track.scores, decisive=track.decisive,
                                person_id=track.match.person_id if track.match else None,
                                match_distance=track.match.distance if track.match else None)
                row.evidence = [Evidence(time_s=t, score=s, image=jpeg)
                                for t, s, jpeg in track.evidence]
                session.add(row)
            scan.timings = analysis.timings
        session.execute(update(Verdict).where(Verdict.upload_id == upload_id,
                                              Verdict.is_current).values(is_current=False))
        session.flush()
        verdict = Verdict(upload_id=upload_id, scan_id=scan_id, decision=decision.decision,
                          score=analysis.score if analysis else None,
                          threshold=analysis.threshold if analysis else None,
                          detector_version=detector_version, reasons=decision.reasons)
        session.add(verdict)
        scan.status = "failed" if error else "done"
        scan.error = error
        scan.finished_at = now()
        upload.status = "done"
        session.flush()
        alert_id = None
        if decision.decision == "block":
            alert = Alert(verdict_id=verdict.id, upload_id=upload_id,
                          payload={"upload_id": upload_id, "verdict_id": verdict.id,
                                   "decision": "block", "reasons": decision.reasons})
            session.add(alert)
            session.flush()
            alert_id = alert.id
        audit(session, "worker", f"verdict_{decision.decision}", upload_id,
              {"verdict": verdict.id, "scan": scan_id, "detector_version": detector_version})
        return ScanOutcome(upload_id, verdict.id, decision.decision, decision.reasons,
                           alert_id, False)
