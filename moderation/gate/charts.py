"""Geometry of the small score-over-time charts of the review page (drawn as inline SVG).

Operating thresholds sit near 1 (0.9966, say): on a linear axis the threshold line hugs the top
and a score of 0.99 looks the same as 0.999. The score axis is therefore logit-scaled between
0.01 and 0.9999, with ticks at 0.01, 0.5, 0.9, 0.99 and 0.999 and the threshold marked on it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

LOW, HIGH = 0.01, 0.9999
TICKS = (0.01, 0.5, 0.9, 0.99, 0.999)
AXIS_WIDTH = 34.0  # room for the score labels left of the plot


def _logit(p: float) -> float:
    p = min(max(p, LOW), HIGH)
    return math.log(p / (1 - p))


@dataclass(frozen=True)
class ScoreChart:
    width: int
    height: int
    plot: tuple[float, float, float, float]  # left, top, right, bottom of the plotting area
    line: str  # SVG polyline points
    dots: list[tuple[float, float, bool]]  # x, y, at or above the threshold
    threshold: float | None
    threshold_y: float | None
    start: float
    end: float
    ticks: tuple[tuple[float, str], ...] = ()  # y, label of the score axis
    flagged: tuple[float, float] | None = None  # x range of the samples at or above threshold

    @property
    def label(self) -> str:
        above = sum(hot for _, _, hot in self.dots)
        text = (f"Swap score of {len(self.dots)} sampled faces from {self.start:.1f} s to "
                f"{self.end:.1f} s")
        if self.threshold is not None:
            text += f"; {above} at or above the threshold {self.threshold:.3f}"
        return text


def score_chart(times: list[float], scores: list[float], threshold: float | None,
                width: int = 340, height: int = 110) -> ScoreChart | None:
    """x = time (s) over the track's range, y = score on a logit axis; None without samples."""
    samples = sorted(zip(times or [], scores or [], strict=False))
    if not samples:
        return None
    left, top, right, bottom = AXIS_WIDTH, 6.0, width - 4.0, height - 16.0
    start, end = samples[0][0], samples[-1][0]
    span = end - start

    def x_of(t: float) -> float:
        return (left + right) / 2 if span <= 0 else left + (t - start) / span * (right - left)

    def y_of(score: float) -> float:
        share = (_logit(score) - _logit(LOW)) / (_logit(HIGH) - _logit(LOW))
        return bottom - share * (bottom - top)

    dots = [(round(x_of(t), 1), round(y_of(s), 1), threshold is not None and s >= threshold)
            for t, s in samples]
    line = " ".join(f"{x},{y}" for x, y, _ in dots)
    threshold_y = round(y_of(threshold), 1) if threshold is not None else None
    # Tick labels that would overlap the threshold's own label are left out.
    ticks = tuple((round(y_of(p), 1), f"{p:g}") for p in TICKS
                  if threshold_y is None or abs(y_of(p) - threshold_y) >= 9)
    hot = [x for x, _, is_hot in dots if is_hot]
    flagged = (min(hot), max(hot)) if hot else None
    return ScoreChart(width, height, (left, top, right, bottom), line, dots, threshold,
                      threshold_y, start, end, ticks, flagged)


def flagged_range(times: list[float], scores: list[float],
                  threshold: float | None) -> tuple[float, float] | None:
    """The time range (s) from the first to the last sample at or above the threshold."""
    if threshold is None:
        return None
    hot = [t for t, s in zip(times or [], scores or [], strict=False) if s >= threshold]
    return (min(hot), max(hot)) if hot else None
