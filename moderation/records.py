"""Plain records the pipeline hands to the database layer: what one video's analysis found and
what enrolment described. Data only, so ``db`` stores them without importing the pipeline."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:  # annotations only: the records never need the face layer at run time
    from moderation.faces.identity import Match


@dataclass
class TrackAnalysis:
    track: int
    start: float
    end: float
    score: float
    median_side: float
    times: list[float]
    scores: list[float]
    decisive: bool
    match: Match | None = None
    evidence: list[tuple[float, float, bytes]] = field(default_factory=list)  # time, score, JPEG
    # From the first to the last swapped-looking face of the track's best run; None when the
    # track does not look swapped. A swap may fill only part of a track.
    swap_span: tuple[float, float] | None = None


@dataclass
class VideoAnalysis:
    path: str
    detector_version: str
    threshold: float
    score: float | None
    frames: int
    tracks: list[TrackAnalysis]
    timings: dict[str, float]


class Described(NamedTuple):
    """One enrolment source described: its face's descriptor, whole and inner."""

    source: str
    vector: Sequence[float]
    digest: str | None = None  # SHA-256 of the source file
    thumbnail: bytes | None = None  # the face, as a small JPEG
    inner: Sequence[float] | None = None  # the inner face's descriptor (identity.Regions)
