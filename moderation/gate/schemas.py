"""The API's request and response bodies."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

Identifier = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                              max_length=200)]
URL_LIKE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


class StrictBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*")
    @classmethod
    def _storable_text(cls, value):
        # PostgreSQL text holds neither NUL nor lone surrogates (JSON can carry both): refuse
        # them here as 422 instead of failing at the INSERT with a 500.
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str):
                if "\x00" in text:
                    raise ValueError("must not contain NUL characters")
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError:
                    raise ValueError("must be valid Unicode (no lone surrogates)") from None
        return value


class UploadIn(StrictBody):
    source: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                             max_length=4096)] = Field(
        description="The video: an absolute path of a file under the service's source roots "
        "(MODERATION_SOURCE_ROOTS); URLs are refused", examples=["/data/uploads/clip.mp4"])
    uploader_id: Identifier = Field(description="Who uploaded it (consents are per uploader)")

    @field_validator("source")
    @classmethod
    def _absolute_path(cls, value: str) -> str:
        if "\x00" in value:
            raise ValueError("must not contain NUL characters")
        if URL_LIKE.match(value) or not value.startswith("/"):
            raise ValueError("must be an absolute file path (URLs are not accepted)")
        return value


class UploadCreated(BaseModel):
    id: str
    status: str
    queued: bool = Field(description="False when the scan could not be sent to the queue; "
                         "the gate answers pending (and so blocks) until it is scanned")


class GateAnswer(BaseModel):
    decision: Literal["allow", "block", "review", "pending", "unprocessable"]
    reasons: list[dict[str, Any]]
    publish: bool = Field(description="Whether the video may be published now; a pending scan "
                          "blocks unless the service is configured to let it through")


class ReviewIn(StrictBody):
    decision: Literal["allow", "block"]
    reviewer: Identifier | None = Field(
        default=None, description="Only with the service token: the name to record (default "
        "`api`). A reviewer's token records its owner and refuses another name (403)")
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] = ""


class ReviewAnswer(GateAnswer):
    review_id: int


class EvidenceOut(BaseModel):
    id: int
    time: float
    score: float
    url: str


class PersonRef(BaseModel):
    id: str
    name: str | None
    image: str | None = Field(default=None, description="URL of the person's reference face")


class TrackOut(BaseModel):
    track: int
    start: float
    end: float
    score: float
    decisive: bool
    person: PersonRef | None
    match_distance: float | None
    times: list[float]
    scores: list[float]
    evidence: list[EvidenceOut]


class VerdictOut(BaseModel):
    id: str
    decision: str
    score: float | None
    detector_version: str
    threshold: float | None
    reasons: list[dict[str, Any]]
    created_at: datetime


class ReviewOut(BaseModel):
    id: int
    reviewer: str
    decision: str
    note: str
    verdict_id: str | None
    created_at: datetime


class UploadDetail(BaseModel):
    id: str
    source: str
    uploader_id: str
    status: str
    created_at: datetime
    updated_at: datetime
    gate: GateAnswer
    verdict: VerdictOut | None
    tracks: list[TrackOut]
    reviews: list[ReviewOut] = Field(description="Newest first")


class PersonIn(StrictBody):
    name: Identifier
    sources: list[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                                   max_length=4096)]] = Field(
        min_length=1, max_length=50, description="Photos or videos of the person, as paths the "
        "service can read")
    consents: list[Identifier] = Field(default_factory=list, max_length=1000,
                                       description="Uploaders this person allows")


class ConsentIn(StrictBody):
    uploader_id: Identifier


class PersonOut(BaseModel):
    id: str
    name: str
    created_at: datetime
    descriptors: int
    consents: list[str] = Field(description="Uploaders with a consent in force")


class ConsentOut(BaseModel):
    person_id: str
    uploader_id: str


class EnrolmentOut(BaseModel):
    id: str
    person_id: str
    status: Literal["pending", "running", "done", "failed"]
    sources: list[str]
    added: int = Field(description="Descriptors added")
    skipped: int = Field(description="Sources already enrolled (same file or descriptor)")
    error: str | None
    url: str = Field(description="Poll here until the status is done or failed")
    created_at: datetime
    finished_at: datetime | None


class EnrolmentAccepted(BaseModel):
    person_id: str
    enrolment: EnrolmentOut
    queued: bool = Field(description="False when the enrolment could not be sent to the "
                         "workers; it is then failed, and may be requested again")


class ConsentState(BaseModel):
    uploader_id: str
    granted_at: datetime
    revoked_at: datetime | None


class PersonDetail(PersonOut):
    reference_image: str | None = Field(description="URL of the face shown to reviewers")
    consent_history: list[ConsentState]
    enrolments: list[EnrolmentOut] = Field(description="Newest first")


class AuditEntryOut(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    upload_id: str | None
    person_id: str | None
    details: dict[str, Any]


class AuditPage(BaseModel):
    entries: list[AuditEntryOut] = Field(description="Newest first")
    next_before: int | None = Field(description="Pass as `before` for the next (older) page; "
                                    "null on the last page")
