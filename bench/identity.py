"""Verification benchmark of dlib's face descriptors on LFW: are two photos one person? Draws
same-person and different-person pairs with a fixed seed, measures the accuracy of the distance
threshold by 10-fold cross-validation and the best threshold, and the speed. Needs ../shared."""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from rich.console import Console
from rich.table import Table
from tqdm import tqdm

from moderation.config import Settings
from moderation.faces.identity import (
    FaceDescriber,
    accuracy_at,
    best_threshold,
    cross_validate,
    pair_distances,
)
from moderation.images import read_image

LFW = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "faces" / "lfw"
# LFW deep-funneled photos are 250 px with the subject's face centred at about this box.
CENTRAL_BOX = (75.0, 75.0, 175.0, 175.0)
console = Console()


def people(root: Path) -> dict[str, list[Path]]:
    """Each person's photos, sorted, so a seed always draws the same pairs."""
    folders = sorted(entry for entry in root.iterdir() if entry.is_dir())
    return {folder.name: sorted(folder.glob("*.jpg")) for folder in folders}


def draw_pairs(photos: dict[str, list[Path]], count: int, seed: int):
    """``count`` distinct same-person pairs (two different photos of one person, the person
    drawn uniformly among those with two photos or more, so that no one dominates) and as many
    different-person pairs (two people drawn uniformly, a photo of each)."""
    rng = np.random.default_rng(seed)
    names = sorted(photos)
    several = [name for name in names if len(photos[name]) >= 2]
    same: set[tuple[Path, Path]] = set()
    while len(same) < count:
        paths = photos[several[int(rng.integers(len(several)))]]
        i, j = sorted(rng.choice(len(paths), 2, replace=False))
        same.add((paths[i], paths[j]))
    different: set[tuple[Path, Path]] = set()
    while len(different) < count:
        a, b = (photos[names[int(i)]] for i in rng.choice(len(names), 2, replace=False))
        different.add((a[int(rng.integers(len(a)))], b[int(rng.integers(len(b)))]))
    return sorted(same), sorted(different)


_worker: dict = {}


def _start_worker(num_jitters: int, upsample: int) -> None:
    import dlib

    cv2.setNumThreads(1)
    _worker.update(describer=FaceDescriber(num_jitters), upsample=upsample,
                   detector=dlib.get_frontal_face_detector())


def describe_photo(path: Path) -> tuple[np.ndarray, bool]:
    """The descriptor of the photo's subject, and whether HOG missed it (central box used)."""
    image = read_image(path)
    box, missed = subject_box(image)
    return _worker["describer"].describe(image, box), missed


def describe_photo_regions(path: Path):
    """The whole- and inner-face descriptors of the photo's subject (``Regions`` of one)."""
    image = read_image(path)
    return _worker["describer"].describe_regions(image, [subject_box(image)[0]])


def subject_box(image: np.ndarray) -> tuple[tuple[float, float, float, float], bool]:
    """The box of the photo's subject, and whether HOG missed it (central box used)."""
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    found = _worker["detector"](gray, _worker["upsample"])
    if len(found) == 0:
        return CENTRAL_BOX, True
    # The subject is the centred face; a bystander may be larger.
    cx, cy = image.shape[1] / 2, image.shape[0] / 2
    rect = min(found, key=lambda r: (r.center().x - cx) ** 2 + (r.center().y - cy) ** 2)
    return (rect.left(), rect.top(), rect.right(), rect.bottom()), False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=1500, help="pairs of each kind")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--upsample", type=int, default=0, help="HOG detector upsampling")
    parser.add_argument("--jitters", type=int, default=0, help="FaceDescriber num_jitters")
    args = parser.parse_args()
    if not LFW.is_dir():
        console.print(f"[red]{LFW} is absent: the benchmark needs the real faces of ../shared")
        return 2

    same, different = draw_pairs(people(LFW), args.pairs, args.seed)
    pairs = same + different
    labels = np.array([True] * len(same) + [False] * len(different))
    paths = sorted({path for pair in pairs for path in pair})
    console.print(f"{os.cpu_count()} cores; {len(pairs)} pairs over {len(paths)} photos; "
                  f"{args.workers} processes")

    start = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(
        args.workers, _start_worker, (args.jitters, args.upsample)
    ) as pool:
        results = list(tqdm(pool.imap(describe_photo, paths, chunksize=16), total=len(paths),
                            desc="descriptors", unit="face"))
    rate = len(paths) / (time.perf_counter() - start)
    index = {path: row for row, path in enumerate(paths)}
    descriptors = np.stack([descriptor for descriptor, _ in results])
    fallbacks = sum(fell_back for _, fell_back in results)

    distances = pair_distances(descriptors[[index[a] for a, _ in pairs]],
                               descriptors[[index[b] for _, b in pairs]])
    folds = cross_validate(distances, labels, folds=10)
    threshold = best_threshold(distances, labels)
    default = Settings().identity_candidate_threshold  # the photo-pair threshold

    table = Table(title=f"Face verification on LFW, dlib 128-d descriptors (seed {args.seed})")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("pairs", f"{len(pairs)} ({len(same)} same, {len(different)} different)")
    table.add_row("accuracy, 10-fold CV", f"{folds.mean:.4f} ± {folds.std:.4f}")
    table.add_row("threshold per fold", f"{folds.thresholds.mean():.3f} ± "
                  f"{folds.thresholds.std():.3f}")
    table.add_row("threshold chosen on all pairs",
                  f"{threshold:.3f} (accuracy {accuracy_at(distances, labels, threshold):.4f})")
    table.add_row(f"accuracy at the default {default}",
                  f"{accuracy_at(distances, labels, default):.4f}")
    table.add_row("distance, same / different (mean)",
                  f"{distances[labels].mean():.3f} / {distances[~labels].mean():.3f}")
    table.add_row("HOG found no face: central box used",
                  f"{fallbacks}/{len(paths)} ({fallbacks / len(paths):.1%})")
    table.add_row(f"faces/s, {args.workers} processes (read, HOG, landmarks, descriptor)",
                  f"{rate:.1f} ({rate / args.workers:.1f} per process)")
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
