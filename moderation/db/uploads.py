"""Uploads, the publish gate's answer, reviews and the audit log."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from moderation.db.models import AuditLog, Review, Upload, Verdict
from moderation.errors import ModerationError


class UnknownUpload(ModerationError):
    def __init__(self, upload_id: str):
        super().__init__(f"upload {upload_id} does not exist")
        self.upload_id = upload_id


def register_upload(session: Session, source: str, uploader_id: str) -> Upload:
    upload = Upload(source=source, uploader_id=uploader_id)
    session.add(upload)
    session.flush()
    audit(session, uploader_id, "upload_registered", upload.id, {"source": source})
    return upload


def get_upload(session: Session, upload_id: str) -> Upload:
    upload = session.get(Upload, upload_id)
    if upload is None:
        raise UnknownUpload(upload_id)
    return upload


def current_verdict(session: Session, upload_id: str) -> Verdict | None:
    return session.scalar(select(Verdict).where(Verdict.upload_id == upload_id,
                                                Verdict.is_current))


def latest_review(session: Session, upload_id: str) -> Review | None:
    return session.scalar(select(Review).where(Review.upload_id == upload_id)
                          .order_by(Review.created_at.desc(), Review.id.desc()).limit(1))


def gate_answer(session: Session, upload_id: str) -> dict:
    """``{"decision": allow|block|review|pending|unprocessable, "reasons": [...]}``.

    A reviewer's override wins over the verdict it reviewed; a newer verdict (a re-scan) makes
    the override stale, and the new verdict answers until reviewed again.
    """
    get_upload(session, upload_id)
    verdict = current_verdict(session, upload_id)
    review = latest_review(session, upload_id)
    if review is not None and (verdict is None or review.verdict_id == verdict.id):
        override = {"code": "reviewer_override", "reviewer": review.reviewer,
                    "message": f"A reviewer decided to {review.decision} this video"
                               + (f": {review.note}" if review.note else ".")}
        return {"decision": review.decision,
                "reasons": [override] + (verdict.reasons if verdict else [])}
    if verdict is None:
        return {"decision": "pending", "reasons": [
            {"code": "scan_pending", "message": "The video has not been scanned yet."}]}
    return {"decision": verdict.decision, "reasons": verdict.reasons}


def may_publish(session: Session, upload_id: str, pending_allows: bool = False) -> tuple[bool,
                                                                                         dict]:
    """The in-process publish hook: (allowed, the gate's answer). Pending fails closed."""
    answer = gate_answer(session, upload_id)
    allowed = answer["decision"] == "allow" or (answer["decision"] == "pending"
                                                and pending_allows)
    return allowed, answer


def record_review(session: Session, upload_id: str, reviewer: str, decision: str,
                  note: str = "") -> Review:
    if decision not in ("allow", "block"):
        raise ModerationError(f"review decision {decision!r}: expected allow or block")
    # The upload's row lock orders a review against a scan recording its verdict: the review
    # refers to the verdict that is current once the scan committed, never to one it replaces.
    if session.scalar(select(Upload.id).where(Upload.id == upload_id).with_for_update()) is None:
        raise UnknownUpload(upload_id)
    verdict = current_verdict(session, upload_id)
    review = Review(upload_id=upload_id, verdict_id=verdict.id if verdict else None,
                    reviewer=reviewer, decision=decision, note=note)
    session.add(review)
    audit(session, reviewer, f"review_{decision}", upload_id,
          {"verdict": verdict.id if verdict else None, "was": verdict.decision if verdict
           else None, "note": note})
    return review


def audit(session: Session, actor: str, action: str, upload_id: str | None,
          details: dict, person_id: str | None = None) -> None:
    session.add(AuditLog(actor=actor, action=action, upload_id=upload_id, person_id=person_id,
                         details=details))
