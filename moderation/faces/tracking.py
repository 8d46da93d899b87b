"""Linking faces across sampled frames into tracks: one track per person on screen.

Samples are a third of a second apart or more, so boxes can move a lot between them: a pair is a
candidate when the boxes overlap or their centres are within ``reach`` box sides and their sizes
are similar; among candidates, the cost is the box distance plus the colour-histogram distance of
the two faces, and frames are matched with the Hungarian algorithm.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

from moderation.faces.detection import Detection


@dataclass(frozen=True)
class TrackedFace:
    frame: int
    time: float
    detection: Detection


@dataclass
class Track:
    id: int
    faces: list[TrackedFace] = field(default_factory=list)

    @property
    def start(self) -> float:
        return self.faces[0].time

    @property
    def end(self) -> float:
        return self.faces[-1].time

    @property
    def median_side(self) -> float:
        return float(np.median([face.detection.side for face in self.faces]))

    @property
    def mean_score(self) -> float:
        return float(np.mean([face.detection.score for face in self.faces]))


def colour_signature(image: np.ndarray, detection: Detection) -> np.ndarray:
    """A normalised hue-saturation histogram of the face box: cheap appearance for linking."""
    height, width = image.shape[:2]
    x1, y1, x2, y2 = np.clip(np.round(detection.box).astype(int), 0, [width, height] * 2)
    patch = image[y1:max(y2, y1 + 1), x1:max(x2, x1 + 1)]
    hsv = cv2.cvtColor(patch, cv2.COLOR_BGR2HSV)
    histogram = cv2.calcHist([hsv], [0, 1], None, [12, 8], [0, 180, 0, 256]).ravel()
    return histogram / (np.linalg.norm(histogram) + 1e-9)


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


@dataclass(frozen=True)
class TrackerConfig:
    reach: float = 1.0          # centre distance allowed, in box sides
    size_ratio: float = 1.6     # largest allowed ratio of the two box sides
    max_gap: int = 3            # sampled frames a track may miss before it ends
    appearance_weight: float = 0.5
    max_cost: float = 1.5


def link_tracks(detections: Sequence[Sequence[Detection]], times: Sequence[float],
                signatures: Sequence[Sequence[np.ndarray]] | None = None,
                config: TrackerConfig = TrackerConfig()) -> tuple[list[Track], list[list[int]]]:
    """Tracks, and for each frame the track id of each of its detections (same order)."""
    tracks: list[Track] = []
    active: list[tuple[Track, int, np.ndarray | None]] = []  # track, last frame, signature
    labels: list[list[int]] = []
    for frame, (found, moment) in enumerate(zip(detections, times, strict=True)):
        active = [entry for entry in active if frame - entry[1] <= config.max_gap + 1]
        frame_signatures = signatures[frame] if signatures is not None else [None] * len(found)
        cost = np.full((len(active), len(found)), np.inf)
        for row, (track, _, signature) in enumerate(active):
            last = track.faces[-1].detection
            for column, detection in enumerate(found):
                cost[row, column] = _pair_cost(last, detection, signature,
                                               frame_signatures[column], config)
        assigned = [-1] * len(found)
        if cost.size:
            rows, columns = linear_sum_assignment(np.where(np.isfinite(cost), cost, 1e6))
            for row, column in zip(rows, columns, strict=True):
                if cost[row, column] <= config.max_cost:
                    assigned[column] = row
        frame_labels = []
        for column, detection in enumerate(found):
            row = assigned[column]
            if row >= 0:
                track = active[row][0]
                active[row] = (track, frame, frame_signatures[column])
            else:
                track = Track(id=len(tracks))
                tracks.append(track)
                active.append((track, frame, frame_signatures[column]))
            track.faces.append(TrackedFace(frame, moment, detection))
            frame_labels.append(track.id)
        labels.append(frame_labels)
    return tracks, labels


def _pair_cost(previous: Detection, current: Detection, previous_signature, current_signature,
               config: TrackerConfig) -> float:
    ratio = max(previous.side, current.side) / max(min(previous.side, current.side), 1e-6)
    if ratio > config.size_ratio:
        return np.inf
    iou = box_iou(previous.box, current.box)
    centre_shift = np.linalg.norm((previous.box[:2] + previous.box[2:]) / 2
                                  - (current.box[:2] + current.box[2:]) / 2)
    distance = centre_shift / max(previous.side, current.side)
    if iou <= 0 and distance > config.reach:
        return np.inf
    cost = (1.0 - iou) if iou > 0 else 1.0 + distance
    if previous_signature is not None and current_signature is not None:
        cost += config.appearance_weight * (1.0 - float(previous_signature @ current_signature))
    return cost
