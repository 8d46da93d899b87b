"""The operating threshold, set on held-out real *video*: what the platform must not flag.

A threshold taken from still photos said nothing about compressed, moving, close-up faces: the
detector trained on LFW flagged one real video in five at its photo threshold. Here the
threshold is the lowest score that flags at most ``video_rate`` of held-out real videos, each
scored with exactly the worker's aggregation (median per track, the decisive track's score),
and at most ``frame_rate`` of held-out real faces framed as the worker frames them.

Held-out videos are clips of the people the index holds out (split by identity). A clip gives
one video as the worker samples it and ``windows`` shorter ones (consecutive stretches of the
samples), since a platform sees short uploads too and a short window is the harder case.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from moderation.detector.aggregate import track_scores, video_score
from moderation.errors import ModerationError
from moderation.training.evaluate import VIDEO_SUFFIXES


@dataclass
class ClipFaces:
    """The sampled faces of one held-out clip: crops, times, track ids and track sizes."""

    name: str
    frames: int
    crops: list[np.ndarray]
    frame_of: list[int]
    tracks: list[int]
    sides: dict[int, float]


@dataclass
class Calibration:
    threshold: float
    video_rate: float          # share of held-out real videos flagged at the threshold
    frame_rate: float          # share of held-out real faces flagged at the threshold
    videos: int
    faces: int
    clips: list[str] = field(default_factory=list)
    highest_videos: list[tuple[str, float]] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"threshold": self.threshold, "video_false_positive_rate": self.video_rate,
                "frame_false_positive_rate": self.frame_rate, "videos": self.videos,
                "faces": self.faces, "clips": self.clips,
                "highest_videos": [[n, round(s, 4)] for n, s in self.highest_videos]}


def held_out_clips(folders: list[Path], held_out_keys: set[str]) -> list[Path]:
    """The clips of ``folders`` whose frames the index holds for held-out people (an index key
    of a video source is ``<clip stem>/<frame>.png``)."""
    stems = {key.split("/", 1)[0] for key in held_out_keys if "/" in key}
    return sorted(path for folder in folders for path in Path(folder).iterdir()
                  if path.suffix.lower() in VIDEO_SUFFIXES and path.stem in stems)


def scan_clips(clips: list[Path], settings, geometry, samples: int) -> list[ClipFaces]:
    """Each clip's faces at ``samples`` evenly spread times, cropped as the worker crops."""
    from moderation.faces.scan import FaceScanner

    scanner = FaceScanner(settings, geometry=geometry)
    scanned = []
    for clip in tqdm(clips, desc="calibration clips", unit="clip"):
        try:
            result = scanner.scan(clip, count=samples)
        except ModerationError as exc:
            tqdm.write(f"calibration: skipped {clip.name}: {exc}")
            continue
        faces = [(number, face) for number, found in enumerate(result.faces) for face in found]
        scanned.append(ClipFaces(clip.name, len(result.frames), [f.crop for _, f in faces],
                                 [n for n, _ in faces], [f.track for _, f in faces],
                                 {t.id: t.median_side for t in result.tracks}))
    return scanned


def video_scores(clip: ClipFaces, scores: np.ndarray, frames_per_video: int,
                 windows: int) -> list[tuple[str, float]]:
    """The clip's video scores: the worker's evenly spread view and ``windows`` stretches."""
    views = [(f"{clip.name}", np.arange(0, clip.frames,
                                        max(1, clip.frames // frames_per_video)))]
    if windows:
        starts = np.unique(np.linspace(0, max(0, clip.frames - frames_per_video),
                                       windows).astype(int))
        views += [(f"{clip.name}@{start}", np.arange(start, start + frames_per_video))
                  for start in starts]
    results = []
    for name, frames in views:
        chosen = set(int(f) for f in frames)
        tracks = track_scores(((track, float(frame), score) for frame, track, score
                               in zip(clip.frame_of, clip.tracks, scores, strict=True)
                               if frame in chosen), clip.sides, len(chosen))
        score = video_score(tracks, len(chosen))
        if score is not None:
            results.append((name, score))
    return results


def calibrate(clip_scores: list[tuple[ClipFaces, np.ndarray]], other_face_scores: np.ndarray,
              frames_per_video: int = 32, windows: int = 4, video_rate: float = 0.01,
              frame_rate: float = 0.02, floor: float = 0.5,
              ceiling: float = 0.9999) -> Calibration:
    """The lowest threshold within both rates; ``other_face_scores`` are held-out real faces
    that are not in the clips (photos, crops), counted in the frame rate."""
    videos = [v for clip, scores in clip_scores
              for v in video_scores(clip, scores, frames_per_video, windows)]
    faces = np.concatenate([scores for _, scores in clip_scores] + [other_face_scores])
    video_values = np.array([score for _, score in videos])
    threshold = max(_lowest_within(video_values, video_rate),
                    _lowest_within(faces, frame_rate), floor)
    threshold = min(threshold, ceiling)
    ranked = sorted(videos, key=lambda v: -v[1])[:5]
    return Calibration(threshold, _share(video_values >= threshold),
                       _share(faces >= threshold), len(videos), len(faces),
                       [clip.name for clip, _ in clip_scores], ranked)


def _lowest_within(scores: np.ndarray, rate: float) -> float:
    """The lowest threshold at which at most ``rate`` of ``scores`` are at or above it."""
    if not len(scores):
        return 0.0
    allowed = int(np.floor(rate * len(scores)))
    ranked = np.sort(scores)[::-1]
    if allowed >= len(ranked):
        return 0.0
    # Just above the first score that would be one too many (scores are probabilities).
    return float(np.nextafter(np.float32(ranked[allowed]), np.float32(2)))


def _share(flags: np.ndarray) -> float:
    return float(np.mean(flags)) if len(flags) else 0.0
