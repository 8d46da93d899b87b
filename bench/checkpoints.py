"""Detector checkpoints side by side, end to end on the shared files: swap AUC (video, frame),
real clips flagged, swaps caught, DFDC crops AUC, the shortcut check and how far crop scores
swing under a halving or JPEG 60 (DFDC crops); then each checkpoint's AUC difference to the
first one with a bootstrap interval over clips (the development set has
11 swap/real clips, so an AUC moves in steps of 1/30 and most differences are noise). Prints
tables; run with `.venv/bin/python bench/checkpoints.py CHECKPOINT...` (needs ../shared; the
shipped detector when no checkpoint is named). The shared data are a development set: tables to
read, not a score to tune thresholds on."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
from rich.console import Console
from rich.table import Table

from moderation.config import Settings
from moderation.detector.inference import DEFAULT_CHECKPOINT, SwapDetector
from moderation.images import read_image
from moderation.pipeline import MediaScorer, build_scanner
from moderation.training.evaluate import evaluate, load_labeled, shortcut_check

sys.path.insert(0, str(Path(__file__).resolve().parent))
from detector import SHARED, real_crops  # noqa: E402  (this folder's shared helpers)

console = Console(width=150)  # a wide table: keep it readable when piped


class Recorder:
    """Passes scores through and keeps each item's, for the paired bootstrap."""

    def __init__(self, scorer):
        self.scorer, self.threshold, self.results = scorer, scorer.threshold, {}

    def score_path(self, path, crops: bool = False):
        self.results[Path(path).name] = result = self.scorer.score_path(path, crops)
        return result

    def score_crops(self, crops):
        return self.scorer.score_crops(crops)


def measure(path: Path, settings: Settings, crops_for_check) -> tuple[dict, dict]:
    loaded = SwapDetector.load(path)
    detector = MediaScorer(loaded, build_scanner(settings, loaded))
    recorder = Recorder(detector)
    videos = evaluate(recorder, load_labeled(SHARED / "videos"), crops=False)["tasks"]["swap"]
    crops = evaluate(detector, load_labeled(SHARED / "crops" / "dfdc"), crops=True)
    check = shortcut_check(detector, crops_for_check(detector), seed=0)
    swing = score_swing(detector, [read_image(path) for path in
                                   sorted((SHARED / "crops" / "dfdc").glob("*/*.png"))])
    return {"video AUC": videos["video"]["auc"], "frame AUC": videos["frame"]["auc"],
            "real flagged": videos["real_flagged"], "caught": videos["caught"],
            "DFDC crops AUC": crops["tasks"]["swap"]["video"]["auc"],
            "threshold": detector.threshold,
            "shortcut max": max(check["flagged"].values()),
            "swing p90 halved": swing["halved"], "swing p90 JPEG 60": swing["jpeg60"]}, \
        recorder.results


def score_swing(detector, crops: list[np.ndarray]) -> dict[str, float]:
    """90th percentile of the absolute change of a crop's score when it is shrunk to half and
    enlarged back, or re-encoded as JPEG 60: mild changes a platform's transcoder makes. A
    steady detector barely moves; a large swing means its scores on such crops are partly
    chance."""
    def halved(crop):
        side = crop.shape[1], crop.shape[0]
        small = cv2.resize(crop, (side[0] // 2, side[1] // 2), interpolation=cv2.INTER_AREA)
        return cv2.resize(small, side, interpolation=cv2.INTER_LINEAR)

    def jpeg60(crop):
        return cv2.imdecode(cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 60])[1], 1)

    base = detector.score_crops(crops)
    return {name: float(np.quantile(np.abs(detector.score_crops([change(c) for c in crops]) - base),
                                    0.9))
            for name, change in (("halved", halved), ("jpeg60", jpeg60))}


def bootstrap_differences(base: dict, other: dict, draws: int = 2000, seed: int = 0) -> dict:
    """Mean and 5-95% interval of (other - base) video and frame swap AUC, resampling real and
    fake clips with replacement (the same draw for both checkpoints)."""
    from sklearn.metrics import roc_auc_score

    names = {label: sorted(n for n in base if n.startswith(f"{label}_")
                           and base[n].score is not None and other[n].score is not None)
             for label in ("real", "fake")}
    rng = np.random.default_rng(seed)
    differences = {"video": [], "frame": []}
    for _ in range(draws):
        drawn = {label: rng.choice(found, len(found)) for label, found in names.items()}
        for level in differences:
            aucs = []
            for results in (base, other):
                scores, labels = [], []
                for label, clips in drawn.items():
                    for clip in clips:
                        found = ([results[clip].score] if level == "video"
                                 else results[clip].frame_scores)
                        scores += found
                        labels += [int(label == "fake")] * len(found)
                aucs.append(roc_auc_score(labels, scores))
            differences[level].append(aucs[1] - aucs[0])
    return {level: (float(np.mean(d)), *np.quantile(d, [0.05, 0.95]).tolist())
            for level, d in differences.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", type=Path, nargs="*", default=[DEFAULT_CHECKPOINT])
    parser.add_argument("--check-faces", type=int, default=300,
                        help="real LFW faces in the shortcut check")
    args = parser.parse_args()
    if not SHARED.is_dir():
        console.print(f"[red]{SHARED} is absent: the benchmark needs ../shared")
        return 2
    settings = Settings()
    cached = {}

    def crops_for_check(detector):  # the same faces for every checkpoint of one crop geometry
        key = detector.config.crop
        if key not in cached:
            cached[key] = real_crops(detector, args.check_faces)
        return cached[key]

    measured = {path: measure(path, settings, crops_for_check) for path in args.checkpoints}
    rows = {path: row for path, (row, _) in measured.items()}
    table = Table(title="Detector checkpoints on the shared development set (end to end)")
    table.add_column("checkpoint")
    columns = list(next(iter(rows.values())))
    for column in columns:
        table.add_column(column, justify="right")
    for path, row in rows.items():
        table.add_row(_name(path), *(_cell(column, row[column]) for column in columns))
    console.print(table)
    if len(measured) > 1:
        first, (_, base) = next(iter(measured.items()))
        table = Table(title=f"Swap AUC minus {_name(first)}'s: mean [5%, 95%] of 2,000 bootstrap "
                            "draws of the clips")
        table.add_column("checkpoint")
        table.add_column("video AUC", justify="right")
        table.add_column("frame AUC", justify="right")
        for path, (_, results) in list(measured.items())[1:]:
            found = bootstrap_differences(base, results)
            table.add_row(_name(path), *(f"{m:+.3f} [{lo:+.3f}, {hi:+.3f}]"
                                       for m, lo, hi in found.values()))
        console.print(table)
    return 0


def _name(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def _cell(column: str, value) -> str:
    if value is None:
        return "-"
    if column in ("real flagged", "caught"):
        return f"{value:.0%}"
    if column == "shortcut max":
        return f"{value:.1%}"
    return f"{value:.3f}"


if __name__ == "__main__":
    sys.exit(main())
