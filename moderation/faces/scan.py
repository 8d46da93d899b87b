"""From a video file to tracked face crops: the video and face layers put together.

The worker and training both call ``FaceScanner.scan``; the ``moderation faces`` command prints
what it returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from moderation.config import Settings
from moderation.faces.crops import CropGeometry, crop_face
from moderation.faces.detection import Detection, FaceDetector, build_detector
from moderation.faces.tracking import Track, TrackerConfig, colour_signature, link_tracks
from moderation.video.reader import Frame, VideoInfo, VideoLimits, probe, read_frames, sample_times


@dataclass(frozen=True)
class FaceRecord:
    """One face in one sampled frame, with its track and (optionally) its crop."""

    frame: int
    time: float
    detection: Detection
    track: int
    crop: np.ndarray | None = None

    def to_json(self) -> dict:
        return {"box": [round(float(v), 1) for v in self.detection.box],
                "score": round(self.detection.score, 4), "track": self.track}


@dataclass
class VideoFaces:
    info: VideoInfo
    frames: list[Frame]
    faces: list[list[FaceRecord]]
    tracks: list[Track]
    geometry: CropGeometry
    timings: dict[str, float] = field(default_factory=dict)

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

    def scan(self, path: str | Path, count: int | None = None, rate: float | None = None,
             keyframes_only: bool = False, keep_crops: bool = True) -> VideoFaces:
        import time

        started = time.perf_counter()
        info = probe(path, self.limits)
        times = sample_times(info, count or self.settings.frames_per_video, rate, keyframes_only)
        frames = read_frames(info, times, self.limits, keyframes_only)
        decoded = time.perf_counter()
        detections = self.detector.detect([frame.image for frame in frames])
        detected = time.perf_counter()
        signatures = [[colour_signature(frame.image, d) for d in found]
                      for frame, found in zip(frames, detections, strict=True)]
        tracks, labels = link_tracks(detections, [f.time for f in frames], signatures,
                                     self.tracker)
        faces = [
            [FaceRecord(index, frame.time, detection, label,
                        crop_face(frame.image, detection, self.geometry) if keep_crops else None)
             for detection, label in zip(found, frame_labels, strict=True)]
            for index, (frame, found, frame_labels) in enumerate(
                zip(frames, detections, labels, strict=True))
        ]
        timings = {"decode": decoded - started, "detect": detected - decoded,
                   "total": time.perf_counter() - started}
        return VideoFaces(info, frames, faces, tracks, self.geometry, timings)
