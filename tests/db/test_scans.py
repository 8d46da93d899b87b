"""Scans recorded in PostgreSQL: verdicts, history, idempotency, unprocessable videos, alerts,
the gate and reviews. The analysis is a stand-in (the detector is tested elsewhere); the
database is real."""

from __future__ import annotations

import http.server
import json
import threading

import pytest
from sqlalchemy import func, select

from moderation.alerts import DeliveryFailed, deliver_alert
from moderation.db.models import Alert, AuditLog, Evidence, FaceTrack, Scan, Verdict
from moderation.db.persons import enroll, grant_consent
from moderation.db.uploads import gate_answer, may_publish, record_review, register_upload
from moderation.errors import CorruptVideo
from moderation.faces.identity import Match, TrackRule
from moderation.records import TrackAnalysis, VideoAnalysis
from moderation.service import scan_upload

RULE = TrackRule()

VECTOR = [0.1] * 128


class StandInAnalysis:
    """Returns a fixed analysis: one swapped track whose face matches the gallery's first person
    when ``matched``. Counts its calls."""

    def __init__(self, score=0.999, matched=True):
        self.score, self.matched, self.calls = score, matched, 0

    def __call__(self, source, gallery):
        self.calls += 1
        match = None
        if self.matched and len(gallery):
            match = Match(str(gallery.person_ids[0]), 0.3)
        track = TrackAnalysis(0, 1.0, 8.0, self.score, 150.0, [1.0, 4.0, 8.0],
                              [self.score] * 3, True, match, [(4.0, self.score, b"\xff\xd8jpeg")])
        return VideoAnalysis(source, "v1", 0.99, self.score, 32, [track], {"total": 1.0})


def _upload(sessions, uploader="u1"):
    with sessions() as session, session.begin():
        return register_upload(session, "/videos/clip.mp4", uploader).id


def _person(sessions, consent_for=None):
    with sessions() as session, session.begin():
        person = enroll(session, "Ann Example", [("photo.jpg", VECTOR)], "test")
        if consent_for:
            grant_consent(session, person, consent_for)
        return person.id


def test_a_protected_swap_is_blocked_with_evidence_and_one_alert(sessions):
    person = _person(sessions)
    upload = _upload(sessions)
    with sessions() as session:
        assert may_publish(session, upload) == (False, gate_answer(session, upload))
        assert gate_answer(session, upload)["decision"] == "pending"
    outcome = scan_upload(sessions, upload, "v1", StandInAnalysis(), RULE)
    assert outcome.decision == "block" and outcome.alert_id is not None
    with sessions() as session:
        answer = gate_answer(session, upload)
        assert answer["decision"] == "block"
        assert answer["reasons"][0]["code"] == "portrait_rights_swap"
        assert answer["reasons"][0]["person_id"] == person
        track = session.scalar(select(FaceTrack))
        assert track.person_id == person and track.decisive
        assert session.scalar(select(func.count()).select_from(Evidence)) == 1
        assert session.scalar(select(func.count()).select_from(Alert)) == 1


def test_scanning_twice_changes_nothing(sessions):
    upload = _upload(sessions)
    analysis = StandInAnalysis(score=0.1)
    first = scan_upload(sessions, upload, "v1", analysis, RULE)
    again = scan_upload(sessions, upload, "v1", analysis, RULE)
    assert again.reused and again.verdict_id == first.verdict_id and analysis.calls == 1
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Verdict)) == 1
        assert session.scalar(select(func.count()).select_from(Scan)) == 1


def test_a_crashed_scan_is_redone_in_place(sessions):
    upload = _upload(sessions)

    def crash(source, gallery):
        raise MemoryError("killed")

    with pytest.raises(MemoryError):
        scan_upload(sessions, upload, "v1", crash, RULE)
    outcome = scan_upload(sessions, upload, "v1", StandInAnalysis(score=0.1), RULE)
    with sessions() as session:
        scan = session.scalar(select(Scan))
        assert (scan.status, scan.attempts) == ("done", 2)
        assert session.scalar(select(func.count()).select_from(Verdict)) == 1
    assert outcome.decision == "allow"


def test_a_new_detector_version_keeps_the_history(sessions):
    upload = _upload(sessions)
    scan_upload(sessions, upload, "v1", StandInAnalysis(score=0.1), RULE)
    scan_upload(sessions, upload, "v2", StandInAnalysis(score=0.999, matched=False), RULE)
    with sessions() as session:
        verdicts = session.scalars(select(Verdict).order_by(Verdict.created_at)).all()
        assert [(v.detector_version, v.decision, v.is_current) for v in verdicts] == [
            ("v1", "allow", False), ("v2", "review", True)]
        assert gate_answer(session, upload)["decision"] == "review"


def test_a_corrupt_video_is_unprocessable_not_retried(sessions):
    upload = _upload(sessions)

    def corrupt(source, gallery):
        raise CorruptVideo(source, "is not a video PyAV can open")

    outcome = scan_upload(sessions, upload, "v1", corrupt, RULE)
    assert outcome.decision == "unprocessable" and outcome.reasons[0]["code"] == "corrupt"
    again = scan_upload(sessions, upload, "v1", corrupt, RULE)
    assert again.reused
    with sessions() as session:
        assert gate_answer(session, upload)["decision"] == "unprocessable"
        assert session.scalar(select(Scan.attempts)) == 1


def test_consent_and_reviews(sessions):
    _person(sessions, consent_for="u1")
    upload = _upload(sessions, uploader="u1")
    assert scan_upload(sessions, upload, "v1", StandInAnalysis(), RULE).decision == "allow"
    other = _upload(sessions, uploader="u2")
    assert scan_upload(sessions, other, "v1", StandInAnalysis(), RULE).decision == "block"
    with sessions() as session, session.begin():
        record_review(session, other, "reviewer-1", "allow", "parody, cleared by legal")
    with sessions() as session:
        answer = gate_answer(session, other)
        assert answer["decision"] == "allow" and answer["reasons"][0]["code"] == "reviewer_override"
        log = session.scalars(select(AuditLog.action).where(AuditLog.upload_id == other)).all()
        assert "review_allow" in log and "verdict_block" in log


class _Hook(http.server.BaseHTTPRequestHandler):
    received: list = []
    status = 200

    def do_POST(self):  # noqa: N802 (the standard library's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_alerts_are_posted_at_most_once(sessions):
    _person(sessions)
    outcome = scan_upload(sessions, _upload(sessions), "v1", StandInAnalysis(), RULE)
    server = http.server.HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/hook"
    try:
        _Hook.received, _Hook.status = [], 500
        with pytest.raises(DeliveryFailed):
            deliver_alert(sessions, outcome.alert_id, url)
        _Hook.status = 200
        assert deliver_alert(sessions, outcome.alert_id, url)
        assert deliver_alert(sessions, outcome.alert_id, url)  # delivered before: not resent
    finally:
        server.shutdown()
    assert len(_Hook.received) == 2 and _Hook.received[-1]["decision"] == "block"
    with sessions() as session:
        alert = session.get(Alert, outcome.alert_id)
        assert alert.attempts == 2 and alert.delivered_at is not None


def test_giving_up_records_an_unprocessable_verdict(sessions):
    from moderation.service import give_up

    upload = _upload(sessions)
    outcome = give_up(sessions, upload, "v1", "too_slow", "The scan ran past its time limit.")
    assert outcome.decision == "unprocessable"
    with sessions() as session:
        answer = gate_answer(session, upload)
        assert answer["decision"] == "unprocessable"
        assert answer["reasons"][0]["code"] == "too_slow"
