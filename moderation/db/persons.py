"""Protected persons: enrolment from photos or a video, consents, and the gallery they form."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from moderation.db.models import Consent, PersonDescriptor, ProtectedPerson
from moderation.errors import InputError, NoFaceFound
from moderation.faces.identity import Gallery
from moderation.faces.scan import FaceScanner
from moderation.images import read_image

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp"}


def describe_sources(scanner: FaceScanner, sources: list[Path]) -> list[tuple[str, np.ndarray]]:
    """One descriptor per photo (its largest face) or per video (its longest track)."""
    described = []
    for source in sources:
        if Path(source).suffix.lower() in IMAGE_SUFFIXES:
            image = read_image(source)
            found = scanner.detector.detect([image])[0]
            if not found:
                raise NoFaceFound(str(source), "no face to enrol")
            face = max(found, key=lambda d: d.side)
            vector = scanner.describer.describe(image, scanner.detector.dlib_box(face))
        else:
            result = scanner.scan(source, keep_crops=False)
            if not result.tracks:
                raise NoFaceFound(str(source), "no face to enrol")
            longest = max(result.tracks, key=lambda t: (len(t.faces), t.median_side))
            vector = scanner.describe_tracks(result)[longest.id]
        described.append((str(source), vector))
    return described


def enroll(session: Session, name: str, described: list[tuple[str, np.ndarray]],
           model: str) -> ProtectedPerson:
    """Create the person (or add to them) with the given descriptors."""
    if not described:
        raise InputError(name, "nothing to enrol: give at least one photo or video")
    person = session.scalar(select(ProtectedPerson).where(ProtectedPerson.name == name))
    if person is None:
        person = ProtectedPerson(name=name)
        session.add(person)
    for source, vector in described:
        person.descriptors.append(PersonDescriptor(vector=[float(v) for v in vector],
                                                   source=source, model=model))
    session.flush()
    return person


def grant_consent(session: Session, person: ProtectedPerson, uploader_id: str) -> None:
    existing = session.scalar(select(Consent).where(Consent.person_id == person.id,
                                                    Consent.uploader_id == uploader_id))
    if existing is None:
        session.add(Consent(person_id=person.id, uploader_id=uploader_id))
    else:
        existing.revoked_at = None


def consenting_persons(session: Session, uploader_id: str) -> set[str]:
    rows = session.scalars(select(Consent.person_id).where(Consent.uploader_id == uploader_id,
                                                            Consent.revoked_at.is_(None)))
    return set(rows)


def load_gallery(session: Session, threshold: float) -> tuple[Gallery, dict[str, str]]:
    """The gallery of every protected person's descriptors, and person id -> name."""
    gallery = Gallery(threshold)
    names = {}
    for person in session.scalars(select(ProtectedPerson)):
        names[person.id] = person.name
        if person.descriptors:
            gallery.add(person.id, np.array([d.vector for d in person.descriptors], np.float32))
    return gallery, names

