"""What the API and the review page read: an upload with its verdict, tracks and reviews."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session, aliased

from moderation.db.models import Evidence, FaceTrack, ProtectedPerson, Review, Upload, Verdict
from moderation.db.uploads import current_verdict, gate_answer, get_upload, may_publish
from moderation.gate.schemas import (
    EvidenceOut,
    GateAnswer,
    PersonRef,
    ReviewOut,
    TrackOut,
    UploadDetail,
    VerdictOut,
)
from moderation.gate.thresholds import DetectorThresholds

FLAGGED = ("block", "review")


def evidence_url(evidence_id: int) -> str:
    return f"/review/evidence/{evidence_id}.jpg"


def person_image_url(person_id: str) -> str:
    return f"/review/persons/{person_id}.jpg"


def gate(session: Session, upload_id: str, pending_allows: bool) -> GateAnswer:
    publish, answer = may_publish(session, upload_id, pending_allows)
    return GateAnswer(decision=answer["decision"], reasons=answer["reasons"], publish=publish)


def upload_detail(session: Session, upload_id: str, pending_allows: bool,
                  thresholds: DetectorThresholds | None) -> UploadDetail:
    upload = get_upload(session, upload_id)
    verdict = current_verdict(session, upload_id)
    threshold = thresholds.for_verdict(verdict) if thresholds is not None else None
    return UploadDetail(
        id=upload.id, source=upload.source, uploader_id=upload.uploader_id,
        status=upload.status, created_at=upload.created_at, updated_at=upload.updated_at,
        gate=gate(session, upload_id, pending_allows),
        verdict=verdict_out(verdict, threshold) if verdict is not None else None,
        tracks=tracks(session, verdict.scan_id) if verdict is not None else [],
        reviews=reviews(session, upload_id))


def verdict_out(verdict: Verdict, threshold: float | None) -> VerdictOut:
    return VerdictOut(id=verdict.id, decision=verdict.decision, score=verdict.score,
                      detector_version=verdict.detector_version, threshold=threshold,
                      reasons=verdict.reasons or [], created_at=verdict.created_at)


def tracks(session: Session, scan_id: str) -> list[TrackOut]:
    rows = list(session.scalars(select(FaceTrack).where(FaceTrack.scan_id == scan_id)
                                .order_by(FaceTrack.track_index)))
    if not rows:
        return []
    # Evidence without its JPEG bytes, and names of the matched persons, in one query each.
    evidence: dict[int, list[EvidenceOut]] = {row.id: [] for row in rows}
    for item in session.execute(
            select(Evidence.id, Evidence.track_id, Evidence.time_s, Evidence.score)
            .where(Evidence.track_id.in_(evidence)).order_by(Evidence.time_s, Evidence.id)):
        evidence[item.track_id].append(EvidenceOut(id=item.id, time=item.time_s,
                                                   score=item.score,
                                                   url=evidence_url(item.id)))
    person_ids = {row.person_id for row in rows if row.person_id}
    names, images = {}, set()
    for person in session.execute(
            select(ProtectedPerson.id, ProtectedPerson.name,
                   ProtectedPerson.reference_image.isnot(None).label("has_image"))
            .where(ProtectedPerson.id.in_(person_ids))):
        names[person.id] = person.name
        if person.has_image:
            images.add(person.id)
    return [TrackOut(track=row.track_index, start=row.start_s, end=row.end_s, score=row.score,
                     decisive=row.decisive,
                     person=PersonRef(id=row.person_id, name=names.get(row.person_id),
                                      image=person_image_url(row.person_id)
                                      if row.person_id in images else None)
                     if row.person_id else None,
                     match_distance=row.match_distance, times=list(row.times or []),
                     scores=list(row.scores or []), evidence=evidence[row.id])
            for row in rows]


def reviews(session: Session, upload_id: str, limit: int = 20) -> list[ReviewOut]:
    rows = session.scalars(select(Review).where(Review.upload_id == upload_id)
                           .order_by(Review.created_at.desc(), Review.id.desc()).limit(limit))
    return [ReviewOut(id=r.id, reviewer=r.reviewer, decision=r.decision, note=r.note or "",
                      verdict_id=r.verdict_id, created_at=r.created_at) for r in rows]


@dataclass
class Flagged:
    upload: Upload
    gate: dict
    verdict: VerdictOut | None
    tracks: list[TrackOut]
    reviews: list[ReviewOut]


def flagged_uploads(session: Session, thresholds: DetectorThresholds | None,
                    limit: int = 50, decided: bool = False) -> list[Flagged]:
    """The to-do queue: uploads whose current verdict blocks or asks for review and that no
    reviewer decided since that verdict, newest first. With ``decided``: the uploads a reviewer
    decided, most recently decided first."""
    current = aliased(Verdict)
    flagged = exists().where(current.upload_id == Upload.id, current.is_current,
                             current.decision.in_(FLAGGED))
    reviewed_now = exists().where(Review.upload_id == Upload.id, current.upload_id == Upload.id,
                                  current.is_current, Review.verdict_id == current.id)
    if decided:
        last_review = (select(func.max(Review.created_at)).where(Review.upload_id == Upload.id)
                       .correlate(Upload).scalar_subquery())
        query = (select(Upload).where(exists().where(Review.upload_id == Upload.id))
                 .order_by(last_review.desc(), Upload.id))
    else:
        query = (select(Upload).where(flagged, ~reviewed_now)
                 .order_by(Upload.created_at.desc(), Upload.id))
    uploads = session.scalars(query.limit(limit))
    items = []
    for upload in uploads:
        verdict = current_verdict(session, upload.id)
        threshold = thresholds.for_verdict(verdict) if thresholds is not None else None
        items.append(Flagged(
            upload=upload, gate=gate_answer(session, upload.id),
            verdict=verdict_out(verdict, threshold) if verdict is not None else None,
            tracks=tracks(session, verdict.scan_id) if verdict is not None else [],
            reviews=reviews(session, upload.id, limit=5)))
    return items
