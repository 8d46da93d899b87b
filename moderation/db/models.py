"""Tables of the moderation database (SQLAlchemy 2). Portable between PostgreSQL (production)
and SQLite (the embedded ``moderation scan``): JSON columns, string UUIDs."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Named constraints, so that migrations can refer to them on every database.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_id() -> str:
    return str(uuid.uuid4())


def now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Upload(Base):
    """A video the platform wants to publish."""

    __tablename__ = "uploads"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    source: Mapped[str] = mapped_column(Text)
    uploader_id: Mapped[str] = mapped_column(String(200), index=True)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending|scanning|done
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now,
                                                 onupdate=now)
    scans: Mapped[list[Scan]] = relationship(back_populates="upload", order_by="Scan.started_at")


class Scan(Base):
    """One analysis of an upload by one detector version; repeating it reuses this row."""

    __tablename__ = "scans"
    __table_args__ = (UniqueConstraint("upload_id", "detector_version"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    upload_id: Mapped[str] = mapped_column(ForeignKey("uploads.id", ondelete="CASCADE"),
                                           index=True)
    detector_version: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20), default="running")  # running|done|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    timings: Mapped[dict] = mapped_column(JSON, default=dict)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    upload: Mapped[Upload] = relationship(back_populates="scans")
    tracks: Mapped[list[FaceTrack]] = relationship(back_populates="scan",
                                                   cascade="all, delete-orphan",
                                                   order_by="FaceTrack.track_index")


class Verdict(Base):
    """The decision a scan led to. One verdict per upload is current; older ones are history."""

    __tablename__ = "verdicts"
    __table_args__ = (
        Index("uq_verdicts_current_upload", "upload_id", unique=True,
              postgresql_where=text("is_current"), sqlite_where=text("is_current")),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    upload_id: Mapped[str] = mapped_column(ForeignKey("uploads.id", ondelete="CASCADE"),
                                           index=True)
    scan_id: Mapped[str] = mapped_column(ForeignKey("scans.id", ondelete="CASCADE"),
                                         unique=True)
    decision: Mapped[str] = mapped_column(String(20))  # allow|block|review|unprocessable
    score: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[float | None] = mapped_column(Float)  # the detector's, at the time
    detector_version: Mapped[str] = mapped_column(String(100))
    reasons: Mapped[list] = mapped_column(JSON, default=list)
    is_current: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class ProtectedPerson(Base):
    """Someone whose face must not be swapped into videos without consent."""

    __tablename__ = "protected_persons"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    # A small JPEG of the face from the first enrolled source, shown to reviewers beside a match.
    reference_image: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    descriptors: Mapped[list[PersonDescriptor]] = relationship(cascade="all, delete-orphan")
    consents: Mapped[list[Consent]] = relationship(cascade="all, delete-orphan")


class PersonDescriptor(Base):
    __tablename__ = "person_descriptors"
    # One descriptor per source file and person: enrolling the same photo again adds nothing.
    __table_args__ = (UniqueConstraint("person_id", "digest"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("protected_persons.id", ondelete="CASCADE"),
                                           index=True)
    vector: Mapped[list] = mapped_column(JSON)  # 128 floats (dlib)
    # The inner face's 128 floats (``identity.Regions``); NULL for rows enrolled before 0005.
    inner_vector: Mapped[list | None] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(Text)
    model: Mapped[str] = mapped_column(String(100))
    digest: Mapped[str | None] = mapped_column(String(64))  # SHA-256 of the source file


class Enrolment(Base):
    """A request to describe sources of a person, run by a worker; the client polls it."""

    __tablename__ = "enrolments"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    person_id: Mapped[str] = mapped_column(ForeignKey("protected_persons.id", ondelete="CASCADE"),
                                           index=True)
    sources: Mapped[list] = mapped_column(JSON)
    # pending | running | done | failed
    status: Mapped[str] = mapped_column(String(20), default="pending")
    actor: Mapped[str] = mapped_column(String(200))
    added: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)  # already enrolled from that file
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Consent(Base):
    """A protected person allows one uploader to use their face."""

    __tablename__ = "consents"
    __table_args__ = (UniqueConstraint("person_id", "uploader_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("protected_persons.id", ondelete="CASCADE"))
    uploader_id: Mapped[str] = mapped_column(String(200))
    granted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class FaceTrack(Base):
    """A person on screen in a scan: time range, swap scores, and whom the face matches."""

    __tablename__ = "face_tracks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scan_id: Mapped[str] = mapped_column(ForeignKey("scans.id", ondelete="CASCADE"), index=True)
    track_index: Mapped[int] = mapped_column(Integer)
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    score: Mapped[float] = mapped_column(Float)
    median_side: Mapped[float] = mapped_column(Float)
    times: Mapped[list] = mapped_column(JSON)
    scores: Mapped[list] = mapped_column(JSON)
    person_id: Mapped[str | None] = mapped_column(
        ForeignKey("protected_persons.id", ondelete="SET NULL"))
    match_distance: Mapped[float | None] = mapped_column(Float)
    decisive: Mapped[bool] = mapped_column(Boolean, default=False)
    scan: Mapped[Scan] = relationship(back_populates="tracks")
    evidence: Mapped[list[Evidence]] = relationship(cascade="all, delete-orphan",
                                                    order_by="Evidence.time_s")


class Evidence(Base):
    """A frame thumbnail (JPEG) that shows a track's face, for reviewers."""

    __tablename__ = "evidence"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    track_id: Mapped[int] = mapped_column(ForeignKey("face_tracks.id", ondelete="CASCADE"),
                                          index=True)
    time_s: Mapped[float] = mapped_column(Float)
    score: Mapped[float] = mapped_column(Float)
    image: Mapped[bytes] = mapped_column(LargeBinary)


class Review(Base):
    """A reviewer's override of the gate's answer for an upload."""

    __tablename__ = "reviews"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    upload_id: Mapped[str] = mapped_column(ForeignKey("uploads.id", ondelete="CASCADE"),
                                           index=True)
    verdict_id: Mapped[str | None] = mapped_column(ForeignKey("verdicts.id", ondelete="SET NULL"))
    reviewer: Mapped[str] = mapped_column(String(200))
    decision: Mapped[str] = mapped_column(String(20))  # allow|block
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class Alert(Base):
    """Raised when a verdict blocks a swap of a protected person; sent at most once."""

    __tablename__ = "alerts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    verdict_id: Mapped[str] = mapped_column(ForeignKey("verdicts.id", ondelete="CASCADE"),
                                            unique=True)
    upload_id: Mapped[str] = mapped_column(ForeignKey("uploads.id", ondelete="CASCADE"))
    payload: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


class AuditLog(Base):
    """Who did what, when. Ids are plain columns, not foreign keys: the entry outlives the
    upload or person it is about."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    actor: Mapped[str] = mapped_column(String(200), index=True)
    action: Mapped[str] = mapped_column(String(100), index=True)
    upload_id: Mapped[str | None] = mapped_column(String(36), index=True)
    person_id: Mapped[str | None] = mapped_column(String(36), index=True)
    details: Mapped[dict] = mapped_column(JSON, default=dict)


class Reviewer(Base):
    """Someone who may review and administer: signs in with a token of their own, kept here
    only as its SHA-256."""

    __tablename__ = "reviewers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ReviewerSession(Base):
    """A signed-in review page: the cookie's SHA-256, its CSRF token and its expiry. Shared by
    every server process; logout or revoking the reviewer ends it."""

    __tablename__ = "reviewer_sessions"
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    # None for the service token (acting as ``api``).
    reviewer_id: Mapped[int | None] = mapped_column(
        ForeignKey("reviewers.id", ondelete="CASCADE"), index=True)
    actor: Mapped[str] = mapped_column(String(200))
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
