"""Evaluating a scorer on labeled photos and videos, and checking it for shortcuts.

Two tasks are measured, each against the same real items: ``swap`` (face swaps, group "fake") and
``reenact`` (expression reenactment). Reenactment keeps the person's own face, so it is a
different manipulation than the one the detector is trained for: it is reported on its own and
never mixed into the swap numbers.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import (
    average_precision_score,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)
from tqdm import tqdm

from moderation.detector.scores import MediaScore, Scorer
from moderation.errors import ConfigError, InputError, NoFaceFound
from moderation.images import IMAGE_SUFFIXES
from moderation.synth.functional import degrade
from moderation.training.plots import Curve, save_curves
from moderation.video.reader import VIDEO_SUFFIXES

MEDIA_SUFFIXES = IMAGE_SUFFIXES | VIDEO_SUFFIXES

GROUPS = {"real": 0, "fake": 1, "reenact": 1}  # group -> label (1: manipulated)
TASKS = {"swap": "fake", "reenact": "reenact"}  # task -> the group measured against "real"
CSV_LABELS = {"real": 0, "fake": 1, "0": 0, "1": 1}
EXCLUDED_NOTE = ("items with no face (score null) and items that could not be read (error set) "
                 "are counted but left out of every AUC, AP and share")


@dataclass(frozen=True)
class LabeledItem:
    """A photo or video with its truth: ``label`` 1 for manipulated, 0 for real."""

    path: Path
    label: int
    group: str  # "real", "fake" or "reenact"


# ---------------------------------------------------------------------------- labeled inputs


def load_labeled(source: Path) -> list[LabeledItem]:
    """Labeled media from a folder or a CSV file.

    A folder holding sub-folders ``real/``, ``fake/`` (and optionally ``reenact/``) is labeled by
    sub-folder, searched recursively; any other folder by file-name prefix: ``real_*``, ``fake_*``
    or ``reenact_*`` (its sub-folders are not searched). A CSV has columns ``path,label[,group]``
    with labels ``real``/``fake``/``0``/``1``; relative paths are taken from the CSV's folder.
    Photos (``IMAGE_SUFFIXES``: .png, .jpg, .jpeg, .webp, .bmp) and videos (.mp4, .mov, .mkv,
    .avi, .webm) are accepted. Anything that cannot be labeled raises ``ConfigError`` naming the
    file, and the line for a CSV.
    """
    source = Path(source).expanduser()
    if source.is_dir():
        items = _load_folder(source)
    elif source.is_file() and source.suffix.lower() == ".csv":
        items = _load_csv(source)
    elif source.exists():
        raise ConfigError(f"{source}: expected a folder of media or a .csv file")
    else:
        raise ConfigError(f"{source}: no such file or folder")
    if not items:
        raise ConfigError(f"{source}: holds no labeled photo or video")
    return items


def _load_folder(root: Path) -> list[LabeledItem]:
    folders = [root / group for group in GROUPS if (root / group).is_dir()]
    if folders:
        return [LabeledItem(path, GROUPS[folder.name], folder.name)
                for folder in folders for path in _media_in(folder, recursive=True)]
    items = []
    for path in _media_in(root, recursive=False):
        group = next((g for g in GROUPS if path.name.lower().startswith(f"{g}_")), None)
        if group is None:
            raise ConfigError(f"{path}: the name starts with none of real_, fake_, reenact_, "
                              "so its label is unknown (rename it or list it in a CSV)")
        items.append(LabeledItem(path, GROUPS[group], group))
    return items


def _media_in(folder: Path, recursive: bool) -> list[Path]:
    paths = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(path for path in paths if path.is_file() and not path.name.startswith(".")
                  and path.suffix.lower() in MEDIA_SUFFIXES)


def _load_csv(source: Path) -> list[LabeledItem]:
    try:
        handle = source.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"{source}: cannot be read ({exc.strerror or exc})") from None
    with handle:
        reader = csv.DictReader(handle)
        columns = [(name or "").strip().lower() for name in reader.fieldnames or []]
        if "path" not in columns or "label" not in columns:
            raise ConfigError(f"{source}:1: needs a header with columns path,label[,group]; "
                              f"found {','.join(columns) or 'nothing'}")
        reader.fieldnames = columns
        return [_csv_item(row, source.parent, f"{source}:{reader.line_num}") for row in reader]


def _csv_item(row: dict, folder: Path, where: str) -> LabeledItem:
    raw_path = (row.get("path") or "").strip()
    raw_label = (row.get("label") or "").strip().lower()
    group = (row.get("group") or "").strip().lower()
    if raw_label not in CSV_LABELS:
        raise ConfigError(f"{where}: label {raw_label!r} is not one of real, fake, 0, 1")
    label = CSV_LABELS[raw_label]
    group = group or ("fake" if label else "real")
    if group not in GROUPS:
        raise ConfigError(f"{where}: group {group!r} is not one of {', '.join(GROUPS)}")
    if GROUPS[group] != label:
        raise ConfigError(f"{where}: group {group!r} needs label {GROUPS[group]}, "
                          f"not {raw_label!r}")
    if not raw_path:
        raise ConfigError(f"{where}: the path is empty")
    path = Path(raw_path).expanduser()
    path = path if path.is_absolute() else folder / path
    if not path.is_file():
        raise ConfigError(f"{where}: {path} does not exist")
    if path.suffix.lower() not in MEDIA_SUFFIXES:
        raise ConfigError(f"{where}: {path.name} is neither a photo nor a video "
                          f"({', '.join(sorted(MEDIA_SUFFIXES))})")
    return LabeledItem(path, label, group)


# ---------------------------------------------------------------------------- evaluation


@dataclass
class _Outcome:
    item: LabeledItem
    media: MediaScore
    error: str | None  # why an unreadable input could not be scored


def evaluate(scorer: Scorer, items: Sequence[LabeledItem], crops: bool,
             threshold: float | None = None, out_dir: Path | None = None) -> dict:
    """Score every item and measure the swap and the reenactment task; return a JSON-ready report.

    Per task: ``video`` metrics use one score per item (photo or video), ``frame`` metrics every
    entry of its ``frame_scores``, labeled by its item; ``real_flagged`` and ``caught`` are the
    shares of real and of manipulated items with ``score >= threshold`` (``threshold`` defaults
    to ``scorer.threshold``). A metric that needs both classes is None when one is missing.
    Items with no face, and inputs the scorer rejects as unreadable, are counted and excluded.
    With ``out_dir``, ``report.json``, ``roc.png`` and ``pr.png`` are written there.
    """
    threshold = _check_threshold(scorer.threshold if threshold is None else threshold)
    if not items:
        raise ConfigError("nothing to evaluate: the list of labeled items is empty")
    outcomes = [_score(scorer, item, crops)
                for item in tqdm(items, desc="evaluating", unit="item", disable=len(items) == 1)]
    tasks, curves = {}, []
    for name, group in TASKS.items():
        tasks[name], curve = _task(name, group, outcomes, threshold)
        if curve is not None:
            curves.append(curve)
    report = {
        "threshold": threshold,
        "crops": crops,
        "counts": _counts(outcomes),
        "excluded": EXCLUDED_NOTE,
        "tasks": tasks,
        "items": [_row(outcome, threshold) for outcome in outcomes],
    }
    if out_dir is not None:
        write_report(report, curves, Path(out_dir))
    return report


def write_report(report: dict, curves: Sequence[Curve], out_dir: Path) -> None:
    """Write ``report.json``, ``roc.png`` and ``pr.png`` into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    partial = out_dir / "report.json.partial"
    partial.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    partial.replace(out_dir / "report.json")
    save_curves(curves, out_dir / "roc.png", out_dir / "pr.png")


def _check_threshold(threshold: float) -> float:
    threshold = float(threshold)
    if not 0.0 <= threshold <= 1.0:  # also refuses NaN
        raise ConfigError(f"threshold {threshold} is not a probability in [0, 1]")
    return threshold


def _score(scorer: Scorer, item: LabeledItem, crops: bool) -> _Outcome:
    # One unreadable file must not end a long evaluation: it is reported in its row instead.
    try:
        return _Outcome(item, scorer.score_path(str(item.path), crops=crops), None)
    except NoFaceFound:
        return _Outcome(item, MediaScore(str(item.path), None, "no_face", 0), None)
    except InputError as exc:
        return _Outcome(item, MediaScore(str(item.path), None, "no_face", 0),
                        f"{exc.reason}: {exc.problem}")


def _scored(outcome: _Outcome) -> bool:
    return outcome.error is None and outcome.media.score is not None


def _task(name: str, group: str, outcomes: list[_Outcome], threshold: float):
    chosen = [o for o in outcomes if o.item.group in ("real", group) and _scored(o)]
    labels = np.array([o.item.label for o in chosen], dtype=int)
    scores = np.array([o.media.score for o in chosen], dtype=float)
    frame_labels = np.array([o.item.label for o in chosen for _ in o.media.frame_scores], int)
    frame_scores = np.array([s for o in chosen for s in o.media.frame_scores], dtype=float)
    video = _metrics(labels, scores)
    report = {
        "positive": group,
        "negative": "real",
        "video": video,
        "frame": _metrics(frame_labels, frame_scores),
        "real_flagged": _share(scores[labels == 0] >= threshold),
        "real_frames_flagged": _share(frame_scores[frame_labels == 0] >= threshold),
        "caught": _share(scores[labels == 1] >= threshold),
    }
    if video["auc"] is None:
        return report, None
    fpr, tpr, _ = roc_curve(labels, scores)
    precision, recall, _ = precision_recall_curve(labels, scores)
    return report, Curve(name, fpr, tpr, precision, recall, video["auc"], video["ap"])


def _metrics(labels: np.ndarray, scores: np.ndarray) -> dict:
    positives, negatives = int(labels.sum()), int((labels == 0).sum())
    both = positives > 0 and negatives > 0
    return {
        "auc": float(roc_auc_score(labels, scores)) if both else None,
        "ap": float(average_precision_score(labels, scores)) if both else None,
        "positives": positives,
        "negatives": negatives,
    }


def _share(flags: np.ndarray) -> float | None:
    return float(flags.mean()) if flags.size else None


def _counts(outcomes: list[_Outcome]) -> dict:
    def count(selected: list[_Outcome]) -> dict:
        failed = sum(o.error is not None for o in selected)
        no_face = sum(o.error is None and o.media.score is None for o in selected)
        return {"items": len(selected), "scored": len(selected) - failed - no_face,
                "no_face": no_face, "failed": failed}

    groups = {group: [o for o in outcomes if o.item.group == group] for group in GROUPS}
    return {**count(outcomes),
            "by_group": {group: count(selected) for group, selected in groups.items()}}


def _row(outcome: _Outcome, threshold: float) -> dict:
    score = outcome.media.score if outcome.error is None else None
    return {
        "path": str(outcome.item.path),
        "group": outcome.item.group,
        "score": score,
        "flagged": None if score is None else score >= threshold,
        "faces": outcome.media.faces,
        "frames": len(outcome.media.frame_scores),
        "error": outcome.error,
    }


# ---------------------------------------------------------------------------- shortcut check

SHORTCUT_AIM = 0.05  # the most real crops any one degradation may get flagged
DOWNSCALE_SIDES = (72, 120)  # inclusive range of the longer side a crop is shrunk to
BLUR_SIGMA = 1.5
JPEG_QUALITY = 30

Degradation = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def _none(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return image


def _downscale(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    side = int(rng.integers(DOWNSCALE_SIDES[0], DOWNSCALE_SIDES[1] + 1))
    longer = max(image.shape[:2])
    if side >= longer:  # a crop already that small is left as it is: nothing to shrink
        return image
    return degrade.resample(image, side / longer, down="area", up="linear")


def _blur(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return degrade.gaussian_blur(image, 0, BLUR_SIGMA)  # kernel 0: sized from sigma


def _jpeg(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return degrade.jpeg(image, JPEG_QUALITY)


DEGRADATIONS: dict[str, Degradation] = {
    "none": _none,
    "downscale": _downscale,
    "blur": _blur,
    "jpeg": _jpeg,
}


def shortcut_check(scorer: Scorer, real_images: Sequence[np.ndarray],
                   threshold: float | None = None, seed: int = 0) -> dict:
    """Share of REAL face crops flagged as fake at ``threshold`` under each degradation.

    Synthetic fakes are often softer or more compressed than their backgrounds, so a detector
    can learn "blurry or blocky means fake". This checks it did not: real BGR uint8 crops are
    scored untouched (``none``); shrunk so the longer side is a random 72-120 px and enlarged back
    (``downscale``); blurred with a Gaussian of sigma 1.5 (``blur``); and re-encoded as JPEG at
    quality 30 (``jpeg``). The aim is at most 5% (``SHORTCUT_AIM``) flagged under each.
    ``seed`` seeds the random sides, so a check can be repeated exactly.
    """
    threshold = _check_threshold(scorer.threshold if threshold is None else threshold)
    if not real_images:
        raise ConfigError("the shortcut check needs at least one real face crop")
    for index, image in enumerate(real_images):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ConfigError(f"real crop {index}: expected a BGR uint8 image, got "
                              f"{image.dtype} with shape {image.shape}")
    rng = np.random.default_rng(seed)
    flagged = {}
    for name, apply in DEGRADATIONS.items():
        crops = [apply(image, rng) for image in real_images]
        scores = np.asarray(scorer.score_crops(crops), dtype=float).reshape(-1)
        if scores.size != len(crops):
            raise ValueError(f"score_crops returned {scores.size} scores for {len(crops)} crops")
        flagged[name] = float((scores >= threshold).mean())
    return {
        "threshold": threshold,
        "seed": seed,
        "images": len(real_images),
        "aim": SHORTCUT_AIM,
        "flagged": flagged,
        "within_aim": {name: share <= SHORTCUT_AIM for name, share in flagged.items()},
        "passed": all(share <= SHORTCUT_AIM for share in flagged.values()),
    }


# ---------------------------------------------------------------------------- framing check

FRAMINGS = {"tight": 0.0, "margin 0.1": 0.1, "margin 0.3": 0.3, "margin 0.5": 0.5}
FRAMING_SWING_AIM = 0.1  # the most a face's score may move between framings (90th percentile)
FRAMING_SIDE = 224  # side of the crops handed in, as an upload's crop would be


def framing_check(scorer: Scorer, faces: Sequence[tuple[np.ndarray, np.ndarray]],
                  reframe: Callable[[np.ndarray], np.ndarray],
                  threshold: float | None = None) -> dict:
    """The same REAL faces handed in framed four ways (tight, margins 0.1, 0.3 and 0.5 around
    the face box), each re-framed by ``reframe`` as ``score --crops`` does, then scored.

    ``faces`` are (BGR photo, face box) pairs. The aim: at most 5% flagged under each framing,
    and a face's score moves by at most 0.1 between its framings for 90% of the faces.
    """
    from moderation.training.data import framed_crop

    threshold = _check_threshold(scorer.threshold if threshold is None else threshold)
    if not faces:
        raise ConfigError("the framing check needs at least one real face")
    scores = {}
    for name, margin in FRAMINGS.items():
        crops = [reframe(framed_crop(image, box, FRAMING_SIDE, (margin, 0.0, 0.0, 0)))
                 for image, box in faces]
        scores[name] = np.asarray(scorer.score_crops(crops), dtype=float).reshape(-1)
    table = np.stack(list(scores.values()))
    swing = float(np.quantile(table.max(axis=0) - table.min(axis=0), 0.9))
    flagged = {name: float((values >= threshold).mean()) for name, values in scores.items()}
    return {
        "threshold": threshold,
        "images": len(faces),
        "aim": SHORTCUT_AIM,
        "swing_aim": FRAMING_SWING_AIM,
        "flagged": flagged,
        "swing_p90": swing,
        "passed": all(v <= SHORTCUT_AIM for v in flagged.values())
        and swing <= FRAMING_SWING_AIM,
    }
