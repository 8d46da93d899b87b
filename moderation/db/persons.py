"""Protected persons: enrolment from photos or a video, consents, removal, and the gallery
they form.

The descriptors come described (``moderation.enrolment``); this module only stores them.
Enrolment is idempotent per source file: a descriptor remembers the SHA-256 of the file it was
read from, and enrolling the same file (or a descriptor equal to one held) again adds nothing.
From the API it runs as a worker task (``request_enrolment`` then ``run_enrolment``); every
change is audited with the acting reviewer.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from moderation.db.models import Consent, Enrolment, PersonDescriptor, ProtectedPerson, now
from moderation.db.uploads import audit
from moderation.errors import InputError, ModerationError
from moderation.records import Described


class UnknownPerson(ModerationError):
    def __init__(self, person: str):
        super().__init__(f"person {person} does not exist")
        self.person = person


Describe = Callable[[list[Path]], list[Described]]


def find_person(session: Session, person: str) -> ProtectedPerson:
    """A person by id or by exact name."""
    found = session.get(ProtectedPerson, person) if len(person) == 36 else None
    found = found or session.scalar(select(ProtectedPerson).where(ProtectedPerson.name == person))
    if found is None:
        raise UnknownPerson(person)
    return found


def person_named(session: Session, name: str) -> ProtectedPerson:
    """The person of this name, created when new."""
    person = session.scalar(select(ProtectedPerson).where(ProtectedPerson.name == name))
    if person is None:
        person = ProtectedPerson(name=name)
        session.add(person)
        session.flush()
    return person


def add_descriptors(session: Session, person: ProtectedPerson, described: list,
                    model: str) -> tuple[int, int]:
    """Add what is new; (added, skipped): a source whose file digest or whose descriptor the
    person already has is skipped, except that a held descriptor without its inner face gets
    it (enrolling the same files again upgrades people enrolled before inner faces)."""
    held = list(session.scalars(select(PersonDescriptor)
                                .where(PersonDescriptor.person_id == person.id)))
    by_digest = {row.digest: row for row in held if row.digest}
    by_vector = {tuple(row.vector): row for row in held}
    added = skipped = 0
    for item in described:
        item = Described(*item)
        vector = [float(v) for v in item.vector]
        inner = None if item.inner is None else [float(v) for v in item.inner]
        known = (item.digest and by_digest.get(item.digest)) or by_vector.get(tuple(vector))
        if known:
            if known.inner_vector is None and inner is not None:
                known.inner_vector = inner
            skipped += 1
            continue
        row = PersonDescriptor(person_id=person.id, vector=vector, inner_vector=inner,
                               source=item.source, model=model, digest=item.digest)
        session.add(row)
        if item.digest:
            by_digest[item.digest] = row
        by_vector[tuple(vector)] = row
        added += 1
        if item.thumbnail and person.reference_image is None:
            person.reference_image = item.thumbnail
    session.flush()
    return added, skipped


def enroll(session: Session, name: str, described: list, model: str,
           actor: str | None = None) -> ProtectedPerson:
    """Create the person (or add to them) with the given descriptors; audited when ``actor``
    is given."""
    if not described:
        raise InputError(name, "nothing to enrol: give at least one photo or video")
    person = person_named(session, name)
    added, skipped = add_descriptors(session, person, described, model)
    if actor is not None:
        audit(session, actor, "person_enrolled", None,
              {"name": name, "sources": [Described(*d).source for d in described],
               "added": added, "skipped": skipped}, person_id=person.id)
    return person


def grant_consent(session: Session, person: ProtectedPerson, uploader_id: str,
                  actor: str | None = None) -> None:
    existing = session.scalar(select(Consent).where(Consent.person_id == person.id,
                                                    Consent.uploader_id == uploader_id))
    if existing is None:
        session.add(Consent(person_id=person.id, uploader_id=uploader_id))
    else:
        existing.revoked_at = None
    if actor is not None:
        audit(session, actor, "consent_granted", None, {"uploader_id": uploader_id},
              person_id=person.id)


def revoke_consent(session: Session, person: ProtectedPerson, uploader_id: str,
                   actor: str) -> bool:
    """False when no consent of that uploader was in force."""
    revoked = session.execute(
        update(Consent).where(Consent.person_id == person.id, Consent.uploader_id == uploader_id,
                              Consent.revoked_at.is_(None)).values(revoked_at=now())).rowcount
    if revoked:
        audit(session, actor, "consent_revoked", None, {"uploader_id": uploader_id},
              person_id=person.id)
    return bool(revoked)


def remove_person(session: Session, person: ProtectedPerson, actor: str) -> None:
    """Delete the person with their descriptors, consents and enrolments. Face tracks that
    matched them keep their verdicts (whose reasons name them) but lose the link."""
    descriptors = session.scalar(select(func.count(PersonDescriptor.id))
                                 .where(PersonDescriptor.person_id == person.id))
    audit(session, actor, "person_removed", None,
          {"name": person.name, "descriptors": descriptors,
           "consents": sorted(c.uploader_id for c in person.consents if c.revoked_at is None)},
          person_id=person.id)
    session.delete(person)
    session.flush()


def request_enrolment(session: Session, name: str, sources: list[str], consents: list[str],
                      actor: str) -> Enrolment:
    """The person (created when new) with their consents now, and a pending enrolment of the
    sources for a worker to run."""
    person = person_named(session, name)
    for uploader in consents:
        grant_consent(session, person, uploader, actor)
    enrolment = Enrolment(person_id=person.id, sources=list(sources), status="pending",
                          actor=actor, added=0, skipped=0)
    session.add(enrolment)
    session.flush()
    audit(session, actor, "enrolment_requested", None,
          {"enrolment": enrolment.id, "name": name, "sources": list(sources)},
          person_id=person.id)
    return enrolment


def fail_enrolment(session: Session, enrolment_id: str, error: str) -> None:
    enrolment = session.get(Enrolment, enrolment_id)
    if enrolment is not None and enrolment.status in ("pending", "running"):
        enrolment.status, enrolment.error, enrolment.finished_at = "failed", error, now()
        audit(session, "worker", "enrolment_failed", None,
              {"enrolment": enrolment_id, "error": error}, person_id=enrolment.person_id)


def run_enrolment(sessions: sessionmaker[Session], describe: Describe, model: str,
                  enrolment_id: str) -> str | None:
    """Describe the enrolment's sources (outside any transaction: seconds per video) and add
    the descriptors; a source that cannot be used fails the enrolment with its reason. The
    final status, or None for an unknown enrolment (its person was removed). Running a finished
    one again changes nothing."""
    with sessions() as session, session.begin():
        enrolment = session.get(Enrolment, enrolment_id)
        if enrolment is None:
            return None
        if enrolment.status in ("done", "failed"):
            return enrolment.status
        enrolment.status = "running"
        sources = list(enrolment.sources)
    try:
        described = describe([Path(s) for s in sources])
    except InputError as exc:
        with sessions() as session, session.begin():
            fail_enrolment(session, enrolment_id, str(exc))
        return "failed"
    with sessions() as session, session.begin():
        enrolment = session.get(Enrolment, enrolment_id, with_for_update=True)
        if enrolment is None:
            return None
        person = session.get(ProtectedPerson, enrolment.person_id)
        added, skipped = add_descriptors(session, person, described, model)
        enrolment.status, enrolment.added, enrolment.skipped = "done", added, skipped
        enrolment.finished_at = now()
        audit(session, enrolment.actor, "person_enrolled", None,
              {"enrolment": enrolment_id, "name": person.name, "sources": sources,
               "added": added, "skipped": skipped}, person_id=person.id)
        return "done"


def list_persons(session: Session) -> list[ProtectedPerson]:
    return list(session.scalars(select(ProtectedPerson).order_by(ProtectedPerson.name)))


def describe_person(session: Session, person: ProtectedPerson) -> dict:
    """The person as plain data: descriptors by source, consents (revoked ones too) and
    enrolments, newest first."""
    enrolments = session.scalars(select(Enrolment).where(Enrolment.person_id == person.id)
                                 .order_by(Enrolment.created_at.desc()))
    return {
        "id": person.id, "name": person.name, "created_at": person.created_at.isoformat(),
        "descriptors": [{"source": d.source, "model": d.model, "digest": d.digest}
                        for d in person.descriptors],
        "consents": [{"uploader_id": c.uploader_id, "granted_at": c.granted_at.isoformat(),
                      "revoked_at": c.revoked_at.isoformat() if c.revoked_at else None}
                     for c in sorted(person.consents, key=lambda c: c.uploader_id)],
        "enrolments": [{"id": e.id, "status": e.status, "sources": e.sources,
                        "added": e.added, "skipped": e.skipped, "error": e.error}
                       for e in enrolments]}


def consenting_persons(session: Session, uploader_id: str) -> set[str]:
    rows = session.scalars(select(Consent.person_id).where(Consent.uploader_id == uploader_id,
                                                            Consent.revoked_at.is_(None)))
    return set(rows)


def enrolled_descriptors(session: Session) -> tuple[list[tuple[str, list, list]],
                                                     dict[str, str]]:
    """Every protected person's stored descriptors as ``(person id, whole vectors, inner
    vectors or None)``, and person id -> name (people without descriptors included)."""
    rows, names = [], {}
    for person in session.scalars(select(ProtectedPerson)):
        names[person.id] = person.name
        rows.append((person.id, [d.vector for d in person.descriptors],
                     [d.inner_vector for d in person.descriptors]))
    return rows, names
