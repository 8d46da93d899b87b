"""upload -> frames -> faces -> scores -> identities: everything learnt from one video before
anything is stored or decided. No SQL, no queue, no HTTP: the service hands in the detector,
the scanner and the gallery it built at the edge, and takes the ``VideoAnalysis`` on to the
policy and the database."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import av
import cv2
import numpy as np

from moderation.config import Settings
from moderation.detector.aggregate import eligible_tracks, swap_span
from moderation.detector.inference import Detector
from moderation.detector.scores import MediaScore
from moderation.errors import AnalysisFailed
from moderation.faces.crops import crop_face, detect_padded, reframe_crop
from moderation.faces.identity import Gallery
from moderation.faces.scan import FaceScanner
from moderation.images import IMAGE_SUFFIXES, read_image
from moderation.records import TrackAnalysis, VideoAnalysis

__all__ = ["ANALYSIS_FAULTS", "MediaScorer", "TrackAnalysis", "VideoAnalysis", "analyze",
           "build_scanner", "evidence_indices"]

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


def build_scanner(settings: Settings, detector: Detector) -> FaceScanner:
    """The face scanner that crops faces the way ``detector``'s checkpoint was trained on."""
    return FaceScanner(settings, geometry=detector.config.crop)


def analyze(path: str | Path, detector: Detector, scanner: FaceScanner,
            gallery: Gallery | None, evidence_per_track: int = 3) -> VideoAnalysis:
    """Scan, score, identify the decisive tracks against ``gallery`` and keep evidence.

    Raises ``InputError`` for a video that cannot be used, ``AnalysisFailed`` (naming the
    error's type, never its traceback, which goes to the log) for one the pipeline broke on."""
    try:
        return _analyze(path, detector, scanner, gallery, evidence_per_track)
    except ANALYSIS_FAULTS as exc:
        log.warning("analysis of %s failed", path, exc_info=True)
        raise AnalysisFailed(str(path), f"its content could not be analysed "
                                        f"({type(exc).__name__})") from exc


def _analyze(path: str | Path, detector: Detector, scanner: FaceScanner,
             gallery: Gallery | None, evidence_per_track: int) -> VideoAnalysis:
    result = scanner.scan(path)
    started = time.perf_counter()
    scored = detector.score_scan(result)
    timings = {**result.timings, "scores": time.perf_counter() - started}
    frames = len(result.frames)
    decisive = {track.track for track in eligible_tracks(scored.tracks, frames)}
    spans = {track.track: swap_span(track.times, track.scores, frames, detector.threshold)
             for track in scored.tracks}
    started = time.perf_counter()
    if gallery is not None and len(gallery) and decisive:
        # Whose face was swapped in: described from the swapped stretch where there is one.
        scanner.describe_tracks(
            result, within={t: span for t, span in spans.items() if span is not None})
    described = result.face_descriptors
    matches = {track.track: gallery.match_track(described[track.track],
                                                inner=result.inner_descriptors.get(track.track))
               for track in scored.tracks if gallery is not None and track.track in described}
    # Describing and matching faces: the stage the metrics call "identity".
    timings["identity"] = time.perf_counter() - started
    tracks = []
    for track in scored.tracks:
        match = matches.get(track.track)
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
                         len(result.frames), tracks, timings)


class MediaScorer:
    """A photo, a face crop or a video scored end to end: the scanner finds and crops the
    faces, the detector scores them. Usable wherever a ``Scorer`` is expected (evaluation, the
    ``moderation score`` command)."""

    def __init__(self, detector: Detector, scanner: FaceScanner):
        self.detector, self.scanner = detector, scanner

    @property
    def threshold(self) -> float:
        return self.detector.threshold

    @property
    def version(self) -> str:
        return self.detector.version

    @property
    def config(self):
        """The checkpoint's ``DetectorConfig`` (crop geometry, input size, threshold)."""
        return self.detector.config

    def score_crops(self, crops: list[np.ndarray]) -> np.ndarray:
        return self.detector.score_crops(crops)

    def score_path(self, path: str | Path, crops: bool = False) -> MediaScore:
        path = Path(path)
        if crops:
            # Crops come framed by anyone's detector and margin: re-cut to this checkpoint's.
            crop = reframe_crop(read_image(path), self.scanner.detector,
                                self.detector.config.crop)
            (score,) = self.detector.score_crops([crop])
            return self.detector.result(path, float(score), 1, [float(score)], [])
        if path.suffix.lower() in IMAGE_SUFFIXES:
            return self.score_image(path)
        return self.score_video(path)

    def score_image(self, path: Path) -> MediaScore:
        """A photo: each face is scored; one swapped face makes the photo fake."""
        image = read_image(path)
        detections = self.scanner.detector.detect([image])[0]
        if not detections:  # a face cut by the photo's edges (a tight crop) is looked for again
            detections = detect_padded(image, self.scanner.detector)
        face_crops = [crop_face(image, d, self.detector.config.crop) for d in detections]
        scores = [float(s) for s in self.detector.score_crops(face_crops)]
        return self.detector.result(path, max(scores) if scores else None, len(scores),
                                    scores, [])

    def score_video(self, path: str | Path) -> MediaScore:
        return self.detector.score_scan(self.scanner.scan(path))


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
