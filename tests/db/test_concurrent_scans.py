"""Two deliveries of one scan at once, on the real PostgreSQL: they serialise on the upload's
advisory lock, so one analysis, one verdict and one alert, and a review made in between stands.
The analysis is a stand-in that waits for the test to let it finish."""

from __future__ import annotations

import threading
import time

from sqlalchemy import func, select

from moderation import service
from moderation.db.models import Alert, Review, Verdict
from moderation.db.uploads import gate_answer, record_review
from moderation.service import scan_upload
from tests.db.test_scans import RULE, StandInAnalysis, _person, _upload


class HeldAnalysis(StandInAnalysis):
    """A protected swap (block) whose analysis returns only once ``release`` is set."""

    def __init__(self):
        super().__init__()
        self.started = threading.Event()
        self.release = threading.Event()
        self.entered = 0

    def __call__(self, source, gallery):
        self.entered += 1
        self.started.set()
        assert self.release.wait(30), "never released"
        return super().__call__(source, gallery)


def _run(target, *args):
    result = {}

    def work():
        try:
            result["value"] = target(*args)
        except BaseException as exc:  # reported by the test, not lost in the thread
            result["error"] = exc

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread, result


def _count(sessions, model, upload):
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model)
                              .where(model.upload_id == upload))


def test_two_deliveries_at_once_analyse_once_and_alert_once(sessions):
    _person(sessions)
    upload = _upload(sessions)
    analysis = HeldAnalysis()
    first, first_result = _run(scan_upload, sessions, upload, "v1", analysis, RULE)
    assert analysis.started.wait(30)
    second, second_result = _run(scan_upload, sessions, upload, "v1", analysis, RULE)
    time.sleep(1.0)  # long enough for the second to reach the analysis if nothing stopped it
    assert analysis.entered == 1 and second.is_alive()  # waiting on the upload's lock
    analysis.release.set()
    first.join(30)
    second.join(30)
    assert "error" not in first_result and "error" not in second_result
    one, two = first_result["value"], second_result["value"]
    assert (one.decision, one.reused, two.reused) == ("block", False, True)
    assert two.verdict_id == one.verdict_id and two.alert_id == one.alert_id
    assert analysis.entered == analysis.calls == 1
    assert _count(sessions, Verdict, upload) == 1 and _count(sessions, Alert, upload) == 1


def test_a_review_made_while_a_late_delivery_analyses_is_kept(sessions):
    """The late delivery got past the start before the first one recorded (as without the
    lock): recording finds the scan done and keeps its verdict, alert and review."""
    _person(sessions)
    upload = _upload(sessions)
    late = HeldAnalysis()
    # Past the advisory lock, straight into the scan: the race the lock normally prevents.
    thread, result = _run(service._scan, sessions, upload, "v1", late, RULE, "review")
    assert late.started.wait(30)
    first = scan_upload(sessions, upload, "v1", StandInAnalysis(), RULE)
    assert first.decision == "block"
    with sessions() as session, session.begin():
        record_review(session, upload, "rita", "allow", "satire")
    late.release.set()
    thread.join(30)
    assert "error" not in result and result["value"].reused
    assert result["value"].verdict_id == first.verdict_id
    with sessions() as session:
        answer = gate_answer(session, upload)
        assert answer["decision"] == "allow" and answer["reasons"][0]["reviewer"] == "rita"
        alert = session.scalar(select(Alert).where(Alert.upload_id == upload))
        assert alert.id == first.alert_id  # the alert row survived: never sent twice
        review = session.scalar(select(Review).where(Review.upload_id == upload))
        assert review.verdict_id == first.verdict_id
    assert _count(sessions, Verdict, upload) == 1


def test_the_lock_is_per_upload(sessions):
    one, two = _upload(sessions), _upload(sessions)
    held = HeldAnalysis()
    thread, _ = _run(scan_upload, sessions, one, "v1", held, RULE)
    assert held.started.wait(30)
    # Another upload's scan does not wait for the held one.
    assert scan_upload(sessions, two, "v1", StandInAnalysis(score=0.1), RULE).decision == "allow"
    held.release.set()
    thread.join(30)
