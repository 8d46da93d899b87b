"""Geometry of the small score-over-time charts of the review page (drawn as inline SVG)."""

from __future__ import annotations

from dataclasses import dataclass


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

    @property
    def label(self) -> str:
        above = sum(hot for _, _, hot in self.dots)
        text = (f"Swap score of {len(self.dots)} sampled faces from {self.start:.1f} s to "
                f"{self.end:.1f} s")
        if self.threshold is not None:
            text += f"; {above} at or above the threshold {self.threshold:.3f}"
        return text


def score_chart(times: list[float], scores: list[float], threshold: float | None,
                width: int = 300, height: int = 80) -> ScoreChart | None:
    """x = time (s) over the track's range, y = score on [0, 1]; None without samples."""
    samples = sorted(zip(times or [], scores or [], strict=False))
    if not samples:
        return None
    left, top, right, bottom = 4.0, 4.0, width - 4.0, height - 16.0
    start, end = samples[0][0], samples[-1][0]
    span = end - start

    def x_of(t: float) -> float:
        return (left + right) / 2 if span <= 0 else left + (t - start) / span * (right - left)

    def y_of(score: float) -> float:
        return bottom - min(max(score, 0.0), 1.0) * (bottom - top)

    dots = [(round(x_of(t), 1), round(y_of(s), 1), threshold is not None and s >= threshold)
            for t, s in samples]
    line = " ".join(f"{x},{y}" for x, y, _ in dots)
    threshold_y = round(y_of(threshold), 1) if threshold is not None else None
    return ScoreChart(width, height, (left, top, right, bottom), line, dots, threshold,
                      threshold_y, start, end)
