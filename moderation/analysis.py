"""Everything the moderation service learns from one video, before it touches the database:
the swap score of each track, whom each decisive track's face matches, and evidence frames."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import av
import cv2
import numpy as np

from moderation.detector.aggregate import eligible_tracks, swap_span
from moderation.detector.inference import SwapDetector
from moderation.errors import AnalysisFailed
from moderation.faces.identity import Gallery, Match

log = logging.getLogger(__name__)

THUMBNAIL_SIDE = 192
STRIP_FRAMES = 6  # evidence frames spread over a track's flagged range, beside its best ones

# What decoding, detection and scoring raise on content they cannot handle (a frame shape a
# kernel rejects, a decoder's state gone wrong). The same file fails the same way every time, so
# it becomes an unprocessable verdict, not a retry. MemoryError and OSError are left out: they
# are faults of the machine, worth a retry; so are the task's time limits.
ANALYSIS_FAULTS: tuple[type[BaseException], ...] = (
    RuntimeError, ValueError, IndexError, KeyError, TypeError, AttributeError, ArithmeticError,
    AssertionError, cv2.error, av.error.FFmpegError)


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


def analyze_video(path: str | Path, detector: SwapDetector, gallery: Gallery | None,
                  evidence_per_track: int = 3) -> VideoAnalysis:
    """Scan, score, identify the decisive tracks against ``gallery`` and keep evidence.

    Raises ``InputError`` for a video that cannot be used, ``AnalysisFailed`` (naming the
    error's type, never its traceback, which goes to the log) for one the pipeline broke on."""
    try:
        return _analyze(path, detector, gallery, evidence_per_track)
    except ANALYSIS_FAULTS as exc:
        log.warning("analysis of %s failed", path, exc_info=True)
        raise AnalysisFailed(str(path), f"its content could not be analysed "
                                        f"({type(exc).__name__})") from exc


def _analyze(path: str | Path, detector: SwapDetector, gallery: Gallery | None,
             evidence_per_track: int) -> VideoAnalysis:
    scanner = detector.scanner
    result = scanner.scan(path)
    scored = detector.score_scan(result)
    frames = len(result.frames)
    decisive = {track.track for track in eligible_tracks(scored.tracks, frames)}
    spans = {track.track: swap_span(track.times, track.scores, frames, detector.threshold)
             for track in scored.tracks}
    if gallery is not None and len(gallery) and decisive:
        # Whose face was swapped in: described from the swapped stretch where there is one.
        scanner.describe_tracks(
            result, within={t: span for t, span in spans.items() if span is not None})
    described = result.face_descriptors
    tracks = []
    for track in scored.tracks:
        match = (gallery.match_track(described[track.track],
                                     inner=result.inner_descriptors.get(track.track))
                 if track.track in described else None)
        analysis = TrackAnalysis(track.track, min(track.times), max(track.times), track.score,
                                 track.median_side, track.times, track.scores,
                                 track.track in decisive, match, swap_span=spans[track.track])
        faces = result.track_faces(track.track)
        for index in evidence_indices(track.scores, detector.threshold, evidence_per_track):
            face = faces[index]
            analysis.evidence.append((face.time, track.scores[index],
                                      _thumbnail(result.frames[face.frame].image,
                                                 face.detection.box)))
        tracks.append(analysis)
    return VideoAnalysis(str(path), detector.version, detector.threshold, scored.score,
                         len(result.frames), tracks, dict(result.timings))


def evidence_indices(scores: list[float], threshold: float, best: int,
                     strip: int = STRIP_FRAMES) -> list[int]:
    """The samples kept as evidence, in time order: the ``best`` highest scores, and up to
    ``strip`` more spread evenly over the samples at or above the threshold, so reviewers see
    the whole flagged range as a strip of frames, not only its peak."""
    if best <= 0:
        return []
    chosen = set(int(i) for i in np.argsort([-s for s in scores], kind="stable")[:best])
    flagged = [i for i, score in enumerate(scores) if score >= threshold]
    if len(flagged) > strip:
        flagged = [flagged[int(round(k))] for k in np.linspace(0, len(flagged) - 1, strip)]
    return sorted(chosen | set(flagged))


def _thumbnail(image: np.ndarray, box: np.ndarray) -> bytes:
    """The frame around the face (twice its size), as a small JPEG with the box drawn."""
    height, width = image.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box)
    side = max(x2 - x1, y2 - y1) * 2
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    left, top = int(max(cx - side / 2, 0)), int(max(cy - side / 2, 0))
    right, bottom = int(min(cx + side / 2, width)), int(min(cy + side / 2, height))
    patch = image[top:bottom, left:right].copy()
    cv2.rectangle(patch, (int(x1) - left, int(y1) - top), (int(x2) - left, int(y2) - top),
                  (0, 0, 255), 2)
    scale = THUMBNAIL_SIDE / max(patch.shape[:2])
    patch = cv2.resize(patch, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", patch, [cv2.IMWRITE_JPEG_QUALITY, 85])
    return encoded.tobytes()
