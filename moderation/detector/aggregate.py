"""From face scores to a video score: one confident swapped track is enough; isolated frames
are not, and neither are small background faces.

A track's score is the highest median of its faces' scores over a run of consecutive faces
covering ``SUSTAINED_SHARE`` of the video's samples (the whole track when it is shorter), so a
few odd frames cannot carry it, and a swap that fills only part of a track (real footage, then
the same person swapped) is not outvoted by the real part: the median of a whole such track
called a 6 s swap after 10 s of real footage real. On the development clips the window also
raised the video AUC from 0.897 to 0.931 and caught 4 of 6 swaps instead of 3, with the same
1 of 29 real videos flagged (``bench/dev_sources.py``). Only
tracks seen in at least ``MIN_TRACK_SHARE`` of the frames (and ``MIN_TRACK_FACES`` faces) and at
least half as large as the largest face count; the video's score is the highest of theirs.
Background detections (a face on a screen, a pattern on a towel) tend to be small and fleeting.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from moderation.detector.scores import TrackScore

MIN_TRACK_FACES = 3
MIN_TRACK_SHARE = 0.2
MIN_SIZE_RATIO = 0.5
SUSTAINED_SHARE = 0.25


def sustained_window(scores: list[float], frames: int) -> tuple[float, int, int]:
    """(score, first, last): the highest median over ``max(MIN_TRACK_FACES, SUSTAINED_SHARE *
    frames)`` consecutive faces and where that run lies (indices into ``scores``)."""
    if not scores:
        raise ValueError("a track needs at least one score")
    size = max(MIN_TRACK_FACES, int(np.ceil(SUSTAINED_SHARE * frames)))
    if len(scores) <= size:
        return float(np.median(scores)), 0, len(scores) - 1
    runs = np.lib.stride_tricks.sliding_window_view(np.asarray(scores, np.float64), size)
    medians = np.median(runs, axis=1)
    first = int(np.argmax(medians))
    return float(medians[first]), first, first + size - 1


def track_score(scores: list[float], frames: int) -> float:
    return sustained_window(scores, frames)[0]


def swap_span(times: list[float], scores: list[float], frames: int,
              threshold: float) -> tuple[float, float] | None:
    """When a track looks swapped: its best run, widened over the neighbouring faces at or
    above ``threshold`` and narrowed to the first and last such face; None when it does not."""
    score, first, last = sustained_window(scores, frames)
    if score < threshold:
        return None
    while first > 0 and scores[first - 1] >= threshold:
        first -= 1
    while last < len(scores) - 1 and scores[last + 1] >= threshold:
        last += 1
    above = [i for i in range(first, last + 1) if scores[i] >= threshold]
    return times[above[0]], times[above[-1]]


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


def track_scores(faces: Iterable[tuple[int, float, float]], sides: Mapping[int, float],
                 frames: int) -> list[TrackScore]:
    """Each track's faces and aggregate score, from ``(track, time, score)`` per face in time
    order; tracks in order of their first face, ``sides`` their median face sides. The one
    aggregation behind the detector, the cached evaluation set and the calibration."""
    tracks: dict[int, TrackScore] = {}
    for track, time, score in faces:
        found = tracks.get(track)
        if found is None:
            found = tracks[track] = TrackScore(track, [], [], sides[track], 0.0)
        found.times.append(time)
        found.scores.append(float(score))
    for found in tracks.values():
        found.score = track_score(found.scores, frames)
    return list(tracks.values())
