"""The JSON API under /v1: uploads, the publish gate, reviews and protected persons."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Response, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from moderation.db.audit import AuditFilter, audit_entries
from moderation.db.models import Enrolment, PersonDescriptor, ProtectedPerson
from moderation.db.persons import (
    fail_enrolment,
    grant_consent,
    remove_person,
    request_enrolment,
    revoke_consent,
)
from moderation.db.uploads import audit, get_upload, record_review, register_upload
from moderation.errors import InputError
from moderation.gate import queries
from moderation.gate.auth import Caller
from moderation.gate.context import Gate, get_gate
from moderation.gate.schemas import (
    AuditEntryOut,
    AuditPage,
    ConsentIn,
    ConsentOut,
    ConsentState,
    EnrolmentAccepted,
    EnrolmentOut,
    GateAnswer,
    PersonDetail,
    PersonIn,
    PersonOut,
    ReviewAnswer,
    ReviewIn,
    UploadCreated,
    UploadDetail,
    UploadIn,
)
from moderation.sources import check_source

log = logging.getLogger(__name__)
bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <token>: the service's "
                    "MODERATION_API_TOKEN (acts as `api`) or a reviewer's own token")


class ErrorOut(BaseModel):
    detail: str


def require_token(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
                  gate: Annotated[Gate, Depends(get_gate)]) -> Caller:
    caller = gate.tokens.caller(credentials.credentials) if credentials is not None else None
    if caller is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED,
                            "a valid token is required: Authorization: Bearer <token>",
                            headers={"WWW-Authenticate": "Bearer"})
    return caller


GateDep = Annotated[Gate, Depends(get_gate)]
CallerDep = Annotated[Caller, Depends(require_token)]
router = APIRouter(prefix="/v1", dependencies=[Depends(require_token)],
                   responses={401: {"model": ErrorOut, "description": "No or a wrong token"}})
NOT_FOUND = {404: {"model": ErrorOut, "description": "Unknown id"}}


@router.post("/uploads", status_code=status.HTTP_201_CREATED, response_model=UploadCreated,
             tags=["uploads"])
def create_upload(body: UploadIn, gate: GateDep, response: Response) -> UploadCreated:
    """Register an upload and queue its scan. The gate answers `pending` until it is scanned.
    The source must be a file under the configured source roots (422 otherwise)."""
    _allowed_source(gate, body.source, ("body", "source"))
    with gate.sessions() as session, session.begin():
        upload_id = register_upload(session, body.source, body.uploader_id).id
    # Only now that the row is committed may the worker look for it.
    queued = _enqueue(gate, upload_id, body.uploader_id)
    response.headers["Location"] = f"/v1/uploads/{upload_id}"
    return UploadCreated(id=upload_id, status="pending", queued=queued)


@router.post("/uploads/{upload_id}/scan", status_code=status.HTTP_202_ACCEPTED,
             response_model=UploadCreated, responses=NOT_FOUND, tags=["uploads"])
def rescan_upload(upload_id: str, gate: GateDep, caller: CallerDep) -> UploadCreated:
    """Queue the scan again (for instance after the broker was unreachable). Scans are keyed by
    detector version, so a finished one is not repeated."""
    with gate.sessions() as session, session.begin():
        upload = get_upload(session, upload_id)
        upload_status, uploader = upload.status, upload.uploader_id
        audit(session, caller.actor, "rescan_requested", upload_id, {"status": upload_status})
    return UploadCreated(id=upload_id, status=upload_status,
                         queued=_enqueue(gate, upload_id, uploader))


def _allowed_source(gate: Gate, source: str, location: tuple) -> None:
    """422 in the shape of FastAPI's validation errors, without echoing the input."""
    try:
        check_source(source, gate.settings.source_roots)
    except InputError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [
            {"loc": list(location), "msg": exc.problem, "type": exc.reason}]) from None


def _enqueue(gate: Gate, upload_id: str, actor: str) -> bool:
    try:
        gate.enqueue(upload_id)
    except Exception as exc:  # broker down or misconfigured: the upload stays pending (closed)
        log.exception("could not queue the scan of upload %s", upload_id)
        with gate.sessions() as session, session.begin():
            audit(session, actor, "enqueue_failed", upload_id, {"error": repr(exc)[:500]})
        return False
    return True


@router.get("/uploads/{upload_id}/gate", response_model=GateAnswer, responses=NOT_FOUND,
            tags=["gate"])
def upload_gate(upload_id: str, gate: GateDep) -> GateAnswer:
    """May this video be published? `publish` is the answer to act on; `decision` and `reasons`
    say why."""
    with gate.sessions() as session:
        answer = queries.gate(session, upload_id, gate.settings.pending_allows)
    gate.metrics.gate_answered(answer.decision, answer.publish)
    return answer


@router.get("/uploads/{upload_id}", response_model=UploadDetail, responses=NOT_FOUND,
            tags=["uploads"])
def upload_detail(upload_id: str, gate: GateDep) -> UploadDetail:
    """The upload's status, current verdict, face tracks (time range, scores, matched person,
    evidence frames) and reviews."""
    with gate.sessions() as session:
        return queries.upload_detail(session, upload_id, gate.settings.pending_allows,
                                     gate.thresholds)


@router.post("/uploads/{upload_id}/review", response_model=ReviewAnswer, responses=NOT_FOUND,
             tags=["gate"])
def review_upload(upload_id: str, body: ReviewIn, gate: GateDep,
                  caller: CallerDep) -> ReviewAnswer:
    """A reviewer's decision; it overrides the current verdict until a new scan replaces it.
    The reviewer recorded is the token's owner; only the service token may name another
    (`reviewer`, for a platform relaying its own staff's decisions)."""
    reviewer = caller.actor
    if body.reviewer is not None and body.reviewer != caller.actor:
        if caller.reviewer_id is not None:
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                "a reviewer's token reviews under its own name only")
        reviewer = body.reviewer
    with gate.sessions() as session, session.begin():
        review = record_review(session, upload_id, reviewer, body.decision, body.note)
        session.flush()
        answer = queries.gate(session, upload_id, gate.settings.pending_allows)
        review_id = review.id
    return ReviewAnswer(**answer.model_dump(), review_id=review_id)


@router.post("/persons", status_code=status.HTTP_202_ACCEPTED,
             response_model=EnrolmentAccepted, tags=["persons"])
def enroll_person(body: PersonIn, gate: GateDep, caller: CallerDep,
                  response: Response) -> EnrolmentAccepted:
    """Protect a person: the person and the uploaders they allow are recorded now; describing
    the photos or videos (seconds each) runs on a worker. Poll the enrolment's `url` until
    `done` (descriptors added; a file enrolled before is skipped) or `failed` (its `error`
    names the source). Enrolling an existing name adds to that person. Sources follow the
    upload sources' rules (files under the source roots)."""
    for index, source in enumerate(body.sources):
        _allowed_source(gate, source, ("body", "sources", index))
    with gate.sessions() as session, session.begin():
        enrolment = request_enrolment(session, body.name, body.sources, body.consents,
                                      caller.actor)
        enrolment_id, person_id = enrolment.id, enrolment.person_id
    # Committed: the worker can find it.
    queued = True
    try:
        gate.enqueue_enrolment(enrolment_id)
    except Exception:
        log.exception("could not queue enrolment %s", enrolment_id)
        queued = False
        with gate.sessions() as session, session.begin():
            fail_enrolment(session, enrolment_id, "it could not be sent to the workers; "
                           "request it again")
    with gate.sessions() as session:
        out = _enrolment_out(session.get(Enrolment, enrolment_id))
    response.headers["Location"] = out.url
    return EnrolmentAccepted(person_id=person_id, enrolment=out, queued=queued)


@router.get("/enrolments/{enrolment_id}", response_model=EnrolmentOut, responses=NOT_FOUND,
            tags=["persons"])
def enrolment_status(enrolment_id: str, gate: GateDep) -> EnrolmentOut:
    with gate.sessions() as session:
        enrolment = session.get(Enrolment, enrolment_id)
        if enrolment is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND,
                                f"enrolment {enrolment_id} does not exist")
        return _enrolment_out(enrolment)


@router.get("/persons", response_model=list[PersonOut], tags=["persons"])
def list_persons(gate: GateDep) -> list[PersonOut]:
    with gate.sessions() as session:
        persons = list(session.scalars(select(ProtectedPerson).options(
            selectinload(ProtectedPerson.consents)).order_by(ProtectedPerson.name)))
        counts = _descriptor_counts(session, [person.id for person in persons])
        return [_person_out(person, counts) for person in persons]


@router.get("/persons/{person_id}", response_model=PersonDetail, responses=NOT_FOUND,
            tags=["persons"])
def person_detail(person_id: str, gate: GateDep) -> PersonDetail:
    """The person, their consents (revoked ones too) and their enrolments."""
    with gate.sessions() as session:
        person = _person(session, person_id)
        return _person_detail(session, person)


@router.post("/persons/{person_id}/consents", status_code=status.HTTP_201_CREATED,
             response_model=ConsentOut, responses=NOT_FOUND, tags=["persons"])
def add_consent(person_id: str, body: ConsentIn, gate: GateDep,
                caller: CallerDep) -> ConsentOut:
    """The person allows this uploader to use their face (in scans from now on)."""
    with gate.sessions() as session, session.begin():
        person = _person(session, person_id)
        grant_consent(session, person, body.uploader_id, caller.actor)
    return ConsentOut(person_id=person_id, uploader_id=body.uploader_id)


@router.delete("/persons/{person_id}/consents/{uploader_id}", response_model=ConsentOut,
               responses=NOT_FOUND, tags=["persons"])
def revoke_person_consent(person_id: str, uploader_id: str, gate: GateDep,
                          caller: CallerDep) -> ConsentOut:
    """The person withdraws this uploader's consent (scans from now on block their swaps).
    404 when no consent of that uploader is in force."""
    with gate.sessions() as session, session.begin():
        person = _person(session, person_id)
        if not revoke_consent(session, person, uploader_id, caller.actor):
            raise HTTPException(status.HTTP_404_NOT_FOUND,
                                f"{uploader_id} has no consent of person {person_id} in force")
    return ConsentOut(person_id=person_id, uploader_id=uploader_id)


@router.delete("/persons/{person_id}", status_code=status.HTTP_204_NO_CONTENT,
               responses=NOT_FOUND, tags=["persons"])
def delete_person(person_id: str, gate: GateDep, caller: CallerDep) -> Response:
    """Stop protecting the person: their descriptors, consents and enrolments are deleted;
    verdicts already given keep their reasons; the audit log keeps the removal."""
    with gate.sessions() as session, session.begin():
        remove_person(session, _person(session, person_id), caller.actor)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/audit", response_model=AuditPage, tags=["audit"])
def audit_log(gate: GateDep,
              upload_id: Annotated[str | None, Query(max_length=36)] = None,
              person_id: Annotated[str | None, Query(max_length=36)] = None,
              actor: Annotated[str | None, Query(max_length=200)] = None,
              action: Annotated[str | None, Query(max_length=100)] = None,
              before: Annotated[int | None, Query(ge=1, description="Entries older than this "
                                                  "id (`next_before` of the previous page)")]
              = None,
              limit: Annotated[int, Query(ge=1, le=500)] = 50) -> AuditPage:
    """Who did what: enrolments, consents, reviews, re-scans, reviewers added or revoked,
    persons removed, verdicts. Newest first; filters combine."""
    where = AuditFilter(upload_id, person_id, actor, action)
    with gate.sessions() as session:
        rows, next_before = audit_entries(session, where, limit, before)
        return AuditPage(entries=[AuditEntryOut(
            id=r.id, at=r.at, actor=r.actor, action=r.action, upload_id=r.upload_id,
            person_id=r.person_id, details=r.details or {}) for r in rows],
            next_before=next_before)


def _person(session: Session, person_id: str) -> ProtectedPerson:
    person = session.get(ProtectedPerson, person_id)
    if person is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"person {person_id} does not exist")
    return person


def _descriptor_counts(session: Session, person_ids: list[str]) -> dict[str, int]:
    if not person_ids:
        return {}
    return dict(session.execute(
        select(PersonDescriptor.person_id, func.count(PersonDescriptor.id))
        .where(PersonDescriptor.person_id.in_(person_ids))
        .group_by(PersonDescriptor.person_id)).all())


def _enrolment_out(enrolment: Enrolment) -> EnrolmentOut:
    return EnrolmentOut(id=enrolment.id, person_id=enrolment.person_id, status=enrolment.status,
                        sources=list(enrolment.sources), added=enrolment.added,
                        skipped=enrolment.skipped, error=enrolment.error,
                        url=f"/v1/enrolments/{enrolment.id}", created_at=enrolment.created_at,
                        finished_at=enrolment.finished_at)


def _person_detail(session: Session, person: ProtectedPerson) -> PersonDetail:
    base = _person_out(person, _descriptor_counts(session, [person.id]))
    has_image = session.scalar(select(ProtectedPerson.reference_image.isnot(None))
                               .where(ProtectedPerson.id == person.id))
    enrolments = session.scalars(select(Enrolment).where(Enrolment.person_id == person.id)
                                 .order_by(Enrolment.created_at.desc()))
    return PersonDetail(
        **base.model_dump(),
        reference_image=queries.person_image_url(person.id) if has_image else None,
        consent_history=[ConsentState(uploader_id=c.uploader_id, granted_at=c.granted_at,
                                      revoked_at=c.revoked_at)
                         for c in sorted(person.consents, key=lambda c: c.uploader_id)],
        enrolments=[_enrolment_out(e) for e in enrolments])


def _person_out(person: ProtectedPerson, descriptor_counts: dict[str, int]) -> PersonOut:
    return PersonOut(id=person.id, name=person.name, created_at=person.created_at,
                     descriptors=descriptor_counts.get(person.id, 0),
                     consents=sorted(c.uploader_id for c in person.consents
                                     if c.revoked_at is None))
