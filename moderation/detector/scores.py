"""What scoring a photo or a video returns: the shape shared by inference, evaluation and the
worker."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


@dataclass
class TrackScore:
    """A track's faces and their swap probabilities, in time order."""

    track: int
    times: list[float]
    scores: list[float]
    median_side: float
    score: float  # the track's aggregate


@dataclass
class MediaScore:
    """``score`` is the probability that a face was swapped in (None when no face was found);
    ``frame_scores`` has one entry per scored face crop, for frame-level metrics."""

    path: str
    score: float | None
    label: str  # "fake", "real" or "no_face"
    faces: int
    frame_scores: list[float] = field(default_factory=list)
    tracks: list[TrackScore] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"path": self.path, "score": None if self.score is None else round(self.score, 4),
                "label": self.label, "faces": self.faces}


class Scorer(Protocol):
    """Anything that scores media: the trained detector, or a stand-in in tests."""

    threshold: float

    def score_crops(self, crops: list[np.ndarray]) -> np.ndarray:
        """Swap probabilities of BGR face crops (any size), shape (n,)."""

    def score_path(self, path: str, crops: bool = False) -> MediaScore:
        """Score an image or a video file; ``crops`` says an image is one face crop."""
