"""From a video file to tracked face crops: the video and face layers put together.

The worker and training both call ``FaceScanner.scan``; the ``moderation faces`` command prints
what it returns.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from moderation.config import Settings
from moderation.faces.crops import CropGeometry, crop_face
from moderation.faces.detection import Detection, FaceDetector, build_detector
from moderation.faces.identity import FaceDescriber, Gallery, Match, track_descriptor
from moderation.faces.landmarks import LandmarkDetector
from moderation.faces.tracking import Track, TrackerConfig, colour_signature, link_tracks
from moderation.video.reader import Frame, VideoInfo, VideoLimits, probe_streams, read_streams


@dataclass(frozen=True)
class FaceRecord:
    """One face in one sampled frame, with its track and (optionally) its crop."""

    frame: int
    time: float
    detection: Detection
    track: int
    crop: np.ndarray | None = None
    landmarks: np.ndarray | None = None  # dlib's 68 points, frame pixels

    def to_json(self) -> dict:
        return {"box": [round(float(v), 1) for v in self.detection.box],
                "score": round(self.detection.score, 4), "track": self.track}


@dataclass
class VideoFaces:
    info: VideoInfo  # of the first video stream; ``streams`` has them all
    frames: list[Frame]
    faces: list[list[FaceRecord]]
    tracks: list[Track]
    geometry: CropGeometry
    timings: dict[str, float] = field(default_factory=dict)
    descriptors: dict[int, np.ndarray] = field(default_factory=dict)  # track id -> 128-d
    face_descriptors: dict[int, np.ndarray] = field(default_factory=dict)  # id -> (n, 128)
    inner_descriptors: dict[int, np.ndarray] = field(default_factory=dict)  # the inner faces
    streams: tuple[VideoInfo, ...] = ()

    def frame_lines(self) -> list[dict]:
        """One JSON-ready object per sampled frame: ``{"t": s, "faces": [...]}``."""
        return [{"t": round(frame.time, 3), "faces": [face.to_json() for face in faces]}
                for frame, faces in zip(self.frames, self.faces, strict=True)]

    def track_faces(self, track_id: int) -> list[FaceRecord]:
        return [face for faces in self.faces for face in faces if face.track == track_id]


class FaceScanner:
    """Samples frames, detects faces in one batch, crops them and links them into tracks."""

    def __init__(self, settings: Settings, detector: FaceDetector | None = None,
                 geometry: CropGeometry | None = None, tracker: TrackerConfig | None = None):
        self.settings = settings
        self.detector = detector or build_detector(settings)
        self.geometry = geometry or CropGeometry()
        self.tracker = tracker or TrackerConfig()
        self.limits = VideoLimits.from_settings(settings)
        self._landmarks: LandmarkDetector | None = None
        self._describer: FaceDescriber | None = None

    @property
    def landmark_detector(self) -> LandmarkDetector:
        if self._landmarks is None:
            self._landmarks = LandmarkDetector()
        return self._landmarks

    @property
    def describer(self) -> FaceDescriber:
        if self._describer is None:
            self._describer = FaceDescriber(landmarks=self.landmark_detector)
        return self._describer

    def scan(self, path: str | Path, count: int | None = None, rate: float | None = None,
             keyframes_only: bool = False, keep_crops: bool = True,
             with_landmarks: bool = False) -> VideoFaces:
        """Sample, detect, track and crop; ``with_landmarks`` adds dlib's 68 points per face."""
        started = time.perf_counter()
        streams = probe_streams(path, self.limits)
        frames = read_streams(streams, None if rate else count or self.settings.frames_per_video,
                              rate, keyframes_only, self.limits)
        decoded = time.perf_counter()
        detections = self.detector.detect_video([frame.image for frame in frames])
        detected = time.perf_counter()
        signatures = [[colour_signature(frame.image, d) for d in found]
                      for frame, found in zip(frames, detections, strict=True)]
        tracks, labels = link_tracks(detections, [f.time for f in frames], signatures,
                                     self.tracker)
        faces = [
            [FaceRecord(index, frame.time, detection, label,
                        crop_face(frame.image, detection, self.geometry) if keep_crops else None,
                        self._fit(frame.image, detection) if with_landmarks else None)
             for detection, label in zip(found, frame_labels, strict=True)]
            for index, (frame, found, frame_labels) in enumerate(
                zip(frames, detections, labels, strict=True))
        ]
        timings = {"decode": decoded - started, "detect": detected - decoded,
                   "total": time.perf_counter() - started}
        return VideoFaces(streams[0], frames, faces, tracks, self.geometry, timings,
                          streams=tuple(streams))

    def _fit(self, image: np.ndarray, detection: Detection) -> np.ndarray:
        return self.landmark_detector.fit(image, self.detector.dlib_box(detection))

    def describe_tracks(self, result: VideoFaces, faces_per_track: int = 6,
                        within: dict[int, tuple[float, float]] | None = None
                        ) -> dict[int, np.ndarray]:
        """A 128-d identity descriptor per track, from its ``faces_per_track`` largest, surest
        faces (dlib's descriptor costs about 90 ms a face here, so not from every face), and
        the faces' whole and inner-face descriptors (``face_descriptors``,
        ``inner_descriptors``); for a
        track in ``within``, only from its faces in that time span (the swapped stretch)."""
        for track in result.tracks:
            faces = track.faces
            if within and track.id in within:
                start, end = within[track.id]
                faces = [f for f in faces if start - 1e-6 <= f.time <= end + 1e-6] or faces
            best = sorted(faces, key=lambda f: -f.detection.score * f.detection.side)
            regions = [
                self.describer.describe_regions(result.frames[face.frame].image,
                                                [self.detector.dlib_box(face.detection)])
                for face in best[:faces_per_track]
            ]
            result.face_descriptors[track.id] = np.concatenate([r.whole for r in regions])
            result.inner_descriptors[track.id] = np.concatenate([r.inner for r in regions])
            result.descriptors[track.id] = track_descriptor(result.face_descriptors[track.id])
        return result.descriptors

    def identify(self, result: VideoFaces, gallery: Gallery) -> dict[int, Match | None]:
        """The enrolled person each track matches (``Gallery.match_track``), or None."""
        if not result.face_descriptors:
            self.describe_tracks(result)
        return {track_id: gallery.match_track(faces, inner=result.inner_descriptors.get(track_id))
                for track_id, faces in result.face_descriptors.items()}
