"""From face scores to a video score: one confident swapped track is enough; isolated frames
are not, and neither are small background faces.

A track's score is the median of its faces' scores, so a few odd frames cannot carry it. Only
tracks seen in at least ``MIN_TRACK_SHARE`` of the frames (and ``MIN_TRACK_FACES`` faces) and at
least half as large as the largest face count; the video's score is the highest of theirs.
Background detections (a face on a screen, a pattern on a towel) tend to be small and fleeting.
"""

from __future__ import annotations

import numpy as np

from moderation.detector.scores import TrackScore

MIN_TRACK_FACES = 3
MIN_TRACK_SHARE = 0.2
MIN_SIZE_RATIO = 0.5


def track_score(scores: list[float]) -> float:
    return float(np.median(scores))


def eligible_tracks(tracks: list[TrackScore], frames: int) -> list[TrackScore]:
    """The tracks that may decide the video; the longest track when none qualifies."""
    if not tracks:
        return []
    largest = max(track.median_side for track in tracks)
    needed = max(MIN_TRACK_FACES, MIN_TRACK_SHARE * frames)
    chosen = [track for track in tracks
              if len(track.scores) >= min(needed, frames)
              and track.median_side >= MIN_SIZE_RATIO * largest]
    return chosen or [max(tracks, key=lambda track: (len(track.scores), track.median_side))]


def video_score(tracks: list[TrackScore], frames: int) -> float | None:
    chosen = eligible_tracks(tracks, frames)
    return max(track.score for track in chosen) if chosen else None
