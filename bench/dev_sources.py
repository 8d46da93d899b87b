"""The detector on the development data, per source: what issue 10's aims are measured on.

Real videos (`dev/real-clips`, `videos/real_*`) and the face-swap videos (`videos/fake_*`,
`dev/videos`) are scored end to end as the worker scores them; `dev/dfdc-crops` as whole images
(the scorer finds the face). Prints one table per checkpoint: per source, real videos flagged,
real frames flagged, and the frame-level AUC of that source's real faces against the swaps';
saves frame-level ROC and PR pictures per source and a JSON report. Never train or tune on it.

    .venv/bin/python bench/dev_sources.py [CHECKPOINT ...] [--out runs/dev_sources]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table
from sklearn.metrics import precision_recall_curve, roc_auc_score, roc_curve
from tqdm import tqdm

from moderation.config import Settings
from moderation.detector.inference import DEFAULT_CHECKPOINT, SwapDetector
from moderation.errors import InputError
from moderation.pipeline import MediaScorer, build_scanner
from moderation.training.plots import Curve, save_curves

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
console = Console(width=140)


def source_of(path: Path) -> str:
    """The data set a file comes from, read off its name (``real_<source>_...``)."""
    if path.parent.name in ("real", "fake") and path.parent.parent.name == "dfdc-crops":
        return "dfdc-crops"
    match = re.match(r"(?:real|fake|reenact)_([a-z0-9]+)", path.name)
    return match.group(1) if match else "other"


def dev_items() -> list[tuple[Path, int, str]]:
    """(path, label, kind) of every development item; kind is "video" or "image"."""
    videos = sorted((DATA / "dev" / "real-clips").iterdir()) + sorted(
        (DATA / "videos").glob("real_*")) + sorted((DATA / "videos").glob("fake_*")) + sorted(
        (DATA / "dev" / "videos").glob("fake_*"))
    items = [(p, int(p.name.startswith("fake_")), "video") for p in videos]
    for label, folder in ((0, "real"), (1, "fake")):
        items += [(p, label, "image")
                  for p in sorted((DATA / "dev" / "dfdc-crops" / folder).iterdir())]
    return items


def measure(detector: MediaScorer, items) -> list[dict]:
    rows = []
    for path, label, kind in tqdm(items, desc=detector.version, unit="item"):
        try:
            result = detector.score_path(path)
            score, frames = result.score, result.frame_scores
        except InputError as exc:
            score, frames = None, []
            tqdm.write(f"{path.name}: {exc}")
        rows.append({"path": str(path), "label": label, "kind": kind,
                     "source": source_of(path), "score": score, "frames": frames})
    return rows


def report(rows: list[dict], threshold: float, out: Path) -> dict:
    """Per-source numbers and the frame-level ROC/PR pictures of each source."""
    videos = [r for r in rows if r["kind"] == "video" and r["score"] is not None]
    crops = [r for r in rows if r["kind"] == "image"]
    swap_frames = np.array([s for r in videos if r["label"] for s in r["frames"]])
    sources = {}
    curves = []
    for source in sorted({r["source"] for r in videos if not r["label"]}):
        real = [r for r in videos if r["source"] == source and not r["label"]]
        frames = np.array([s for r in real for s in r["frames"]])
        sources[source] = {"videos": len(real),
                           "videos_flagged": sum(r["score"] >= threshold for r in real),
                           "frames": len(frames),
                           "frames_flagged": float(np.mean(frames >= threshold))
                           if len(frames) else None,
                           "frame_auc_vs_swaps": _auc(frames, swap_frames)}
        if len(frames) and len(swap_frames):
            curves.append(_curve(f"{source} real vs swaps", frames, swap_frames))
    real_crops = np.array([r["score"] for r in crops if not r["label"] and r["score"] is not None])
    fake_crops = np.array([r["score"] for r in crops if r["label"] and r["score"] is not None])
    if len(real_crops) and len(fake_crops):
        curves.append(_curve("dfdc-crops", real_crops, fake_crops))
    real_videos = np.array([r["score"] for r in videos if not r["label"]])
    fake_videos = np.array([r["score"] for r in videos if r["label"]])
    summary = {
        "threshold": threshold,
        "sources": sources,
        "real_videos_flagged": int((real_videos >= threshold).sum()),
        "real_videos": len(real_videos),
        "swaps_caught": int((fake_videos >= threshold).sum()),
        "swaps": len(fake_videos),
        "video_auc": _auc(real_videos, fake_videos),
        "frame_auc": _auc(np.array([s for r in videos if not r["label"] for s in r["frames"]]),
                          swap_frames),
        "dfdc_crops_auc": _auc(real_crops, fake_crops),
        "dfdc_real_crops_flagged": float(np.mean(real_crops >= threshold)),
        "dfdc_crops_no_face": sum(r["score"] is None for r in crops),
        "unscored_videos": sum(r["score"] is None for r in rows if r["kind"] == "video"),
    }
    out.mkdir(parents=True, exist_ok=True)
    save_curves(curves, out / "roc_per_source.png", out / "pr_per_source.png")
    (out / "report.json").write_text(json.dumps({"summary": summary, "items": rows}, indent=1))
    return summary


def _auc(real: np.ndarray, fake: np.ndarray) -> float | None:
    if not len(real) or not len(fake):
        return None
    labels = np.r_[np.zeros(len(real)), np.ones(len(fake))]
    return float(roc_auc_score(labels, np.r_[real, fake]))


def _curve(name: str, real: np.ndarray, fake: np.ndarray) -> Curve:
    labels, scores = np.r_[np.zeros(len(real)), np.ones(len(fake))], np.r_[real, fake]
    fpr, tpr, _ = roc_curve(labels, scores)
    precision, recall, _ = precision_recall_curve(labels, scores)
    from sklearn.metrics import average_precision_score

    return Curve(name, fpr, tpr, precision, recall, float(roc_auc_score(labels, scores)),
                 float(average_precision_score(labels, scores)))


def print_tables(version: str, summary: dict) -> None:
    table = Table(title=f"{version}: real faces per source at threshold "
                        f"{summary['threshold']:.4f}")
    for column in ("source", "real videos flagged", "real frames flagged",
                   "frame AUC vs swaps"):
        table.add_column(column, justify="left" if column == "source" else "right")
    for source, numbers in summary["sources"].items():
        frames = numbers["frames_flagged"]
        auc = numbers["frame_auc_vs_swaps"]
        table.add_row(source, f"{numbers['videos_flagged']}/{numbers['videos']}",
                      "-" if frames is None else f"{frames:.1%}",
                      "-" if auc is None else f"{auc:.3f}")
    table.add_row("dfdc-crops (real, whole images)", "-",
                  f"{summary['dfdc_real_crops_flagged']:.1%}", "-")
    console.print(table)
    console.print(
        f"real videos flagged {summary['real_videos_flagged']}/{summary['real_videos']}, swaps "
        f"caught {summary['swaps_caught']}/{summary['swaps']}, video AUC "
        f"{_fmt(summary['video_auc'])}, frame AUC {_fmt(summary['frame_auc'])}; DFDC crops AUC "
        f"{_fmt(summary['dfdc_crops_auc'])} ({summary['dfdc_crops_no_face']} without a face)")


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", type=Path, nargs="*", default=[DEFAULT_CHECKPOINT])
    parser.add_argument("--out", type=Path, default=Path("runs/dev_sources"))
    args = parser.parse_args()
    if not (DATA / "dev").is_dir():
        console.print(f"[red]{DATA / 'dev'} is absent: the benchmark needs ../shared")
        return 2
    items = dev_items()
    settings = Settings()
    for checkpoint in args.checkpoints:
        detector = SwapDetector.load(checkpoint)
        scorer = MediaScorer(detector, build_scanner(settings, detector))
        summary = report(measure(scorer, items), detector.threshold,
                         args.out / detector.version)
        print_tables(detector.version, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
