"""The occlusion net on faces from real videos: a picture to look at and the share of face
pixels it marks per clip. It was trained on synthetic occluders only, so this is where its
false alarms (hair, shadows, beards) and misses show.

    python -m moderation.learned.on_clips ../shared/data/videos/real_*.mp4 --out out/occlusion.png
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from moderation.config import get_settings
from moderation.errors import ModerationError
from moderation.faces.scan import FaceScanner
from moderation.learned.occlusion import WEIGHTS, OcclusionNet

TILE = 128


@dataclass
class ClipOcclusion:
    path: Path
    faces: int
    marked_share: float  # mean share of crop pixels above the net's threshold
    examples: list[tuple[np.ndarray, np.ndarray]]  # (crop, map) pairs to show


def occlusion_on_clips(paths: list[Path], net: OcclusionNet, scanner: FaceScanner,
                       examples: int = 4) -> list[ClipOcclusion]:
    """Scan each clip with ``scanner`` (as the worker does) and run the net on every face
    crop."""
    threshold = net.config["threshold"]
    results = []
    for path in tqdm(paths, desc="clips", unit="clip"):
        result = scanner.scan(path)
        crops = [face.crop for frame_faces in result.faces for face in frame_faces]
        maps = net.predict(crops) if crops else []
        shown = np.linspace(0, len(crops) - 1, min(examples, len(crops))).astype(int)
        results.append(ClipOcclusion(
            Path(path), len(crops),
            float(np.mean([(m > threshold).mean() for m in maps])) if maps else 0.0,
            [(crops[i], maps[i]) for i in shown]))
    return results


def picture(results: list[ClipOcclusion]) -> np.ndarray:
    """One row per clip: each shown face with the marked pixels tinted red, then its map."""
    width = 2 * TILE * max(1, max(len(r.examples) for r in results))
    rows = []
    for result in results:
        label = np.full((22, width, 3), 255, np.uint8)
        cv2.putText(label, f"{result.path.name}: {result.marked_share:.1%} of face pixels marked",
                    (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        tiles = []
        for crop, occlusion in result.examples:
            crop = cv2.resize(crop, (TILE, TILE), interpolation=cv2.INTER_AREA)
            occlusion = cv2.resize(occlusion, (TILE, TILE))[..., None]
            tinted = crop * (1 - 0.6 * occlusion) + np.float32([0, 0, 255]) * 0.6 * occlusion
            heat = np.repeat(occlusion * 255, 3, axis=2)
            tiles += [tinted.astype(np.uint8), heat.astype(np.uint8)]
        row = np.full((TILE, width, 3), 255, np.uint8)
        if tiles:
            strip = np.hstack(tiles)
            row[:, : strip.shape[1]] = strip
        rows += [label, row]
    return np.vstack(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("videos", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=Path("out/occlusion_on_clips.png"))
    parser.add_argument("--examples", type=int, default=4, help="faces shown per clip")
    parser.add_argument("--weights", type=Path, default=WEIGHTS, help="occlusion net weights")
    args = parser.parse_args(argv)
    missing = [str(p) for p in args.videos if not p.is_file()]
    if missing:
        print(f"error: no such video: {', '.join(missing)}", file=sys.stderr)
        return 2
    try:
        results = occlusion_on_clips(args.videos, OcclusionNet(args.weights),
                                     FaceScanner(get_settings()), args.examples)
    except ModerationError as error:  # an unreadable video names itself
        print(f"error: {error}", file=sys.stderr)
        return 2
    for result in results:
        print(f"{result.path.name}\t{result.faces} faces\t"
              f"{result.marked_share:.1%} of face-crop pixels marked occluded")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), picture(results))
    print(f"picture: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
