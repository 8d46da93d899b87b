"""The evaluation set's face crops, extracted once: what the training loop scores after each
round. Decoding and detecting 13 clips costs 15 s a pass on this machine and needs PyAV and the
face detector; scoring 500 cached crops costs a second and needs neither, so it also runs on a
training machine that has only PyTorch.

A ``CachedScorer`` answers ``score_path`` from the cache with exactly the worker's aggregation,
so ``evaluate`` measures the same numbers as it would on the files.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from moderation.config import Settings
from moderation.detector.aggregate import track_scores, video_score
from moderation.detector.checkpoint import DetectorConfig
from moderation.detector.preprocess import prepare
from moderation.detector.scores import MediaScore
from moderation.faces.crops import CropGeometry
from moderation.images import read_image
from moderation.training.evaluate import VIDEO_SUFFIXES, LabeledItem, load_labeled

MANIFEST = "manifest.json"
# Crops are kept losslessly: a JPEG cache (quality 95) once moved the swap AUC from 0.83 on the
# files to 0.90 on the cache, so the loop's stopping rule read a number the worker never reached.
# WebP lossless is half of PNG's size, so the cache still travels to a training machine.
LOSSLESS = [cv2.IMWRITE_WEBP_QUALITY, 101]


def build_devset(sources: list[Path], out: Path, settings: Settings,
                 geometry: CropGeometry) -> int:
    """Extract the face crops of every labeled item of ``sources`` into ``out``."""
    from moderation.faces.scan import FaceScanner

    items = [item for source in sources for item in load_labeled(source)]
    scanner = FaceScanner(settings, geometry=geometry)
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    for item in tqdm(items, desc="devset", unit="item", disable=len(items) == 1):
        folder = out / item.path.stem
        folder.mkdir(exist_ok=True)
        entry = {"name": item.path.name, "label": item.label, "group": item.group}
        if item.path.suffix.lower() in VIDEO_SUFFIXES:
            result = scanner.scan(item.path)
            faces = [face for frame_faces in result.faces for face in frame_faces]
            entry.update(kind="video", frames=len(result.frames), faces=[])
            for number, face in enumerate(faces):
                name = f"{item.path.stem}/{number:04d}.webp"
                cv2.imwrite(str(out / name), face.crop, LOSSLESS)
                track = next(t for t in result.tracks if t.id == face.track)
                entry["faces"].append({"file": name, "time": face.time, "track": face.track,
                                       "side": track.median_side})
        else:
            name = f"{item.path.stem}/crop.png"  # already small: kept losslessly
            cv2.imwrite(str(out / name), read_image(item.path))
            entry.update(kind="crop", file=name)
        entries.append(entry)
    (out / MANIFEST).write_text(json.dumps(entries, indent=1))
    return len(entries)


class CachedScorer:
    """Scores the cached crops with a model in memory (the one being trained)."""

    def __init__(self, folder: Path, model: torch.nn.Module, config: DetectorConfig,
                 device: str = "cpu"):
        self.folder = Path(folder)
        self.entries = {e["name"]: e for e in json.loads((self.folder / MANIFEST).read_text())}
        self.model, self.config, self.device = model, config, device
        self.threshold = config.threshold

    def items(self) -> list[LabeledItem]:
        return [LabeledItem(Path(name), entry["label"], entry["group"])
                for name, entry in self.entries.items()]

    @torch.inference_mode()
    def score_crops(self, crops: list[np.ndarray]) -> np.ndarray:
        if not crops:
            return np.empty(0, np.float32)
        batch = prepare(crops, self.config).to(self.device)
        return torch.softmax(self.model(batch).float(), dim=1)[:, 1].cpu().numpy()

    def score_path(self, path: str, crops: bool = False) -> MediaScore:
        entry = self.entries[Path(path).name]
        if entry["kind"] == "crop":
            (score,) = self.score_crops([read_image(self.folder / entry["file"])])
            return MediaScore(path, float(score), "", 1, [float(score)])
        faces = entry["faces"]
        scores = self.score_crops([read_image(self.folder / f["file"]) for f in faces])
        tracks = track_scores(((f["track"], f["time"], s)
                               for f, s in zip(faces, scores, strict=True)),
                              {f["track"]: f["side"] for f in faces}, entry["frames"])
        score = video_score(tracks, entry["frames"])
        return MediaScore(path, score, "", len(faces), [float(s) for s in scores], tracks)


def split_items(items: list[LabeledItem]) -> tuple[list[LabeledItem], list[LabeledItem]]:
    """(videos, crops): they are reported apart."""
    videos = [i for i in items if i.path.suffix.lower() in VIDEO_SUFFIXES]
    return videos, [i for i in items if i not in videos]
