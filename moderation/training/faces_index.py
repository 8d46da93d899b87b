"""The index of real training faces: for each photo, dlib's 68 landmarks (for the generator's
masks) and the face box of the worker's detector (so that training crops as the worker crops).

Measured once and saved as one ``.npz``; the training sets read only the index and the photos,
so training runs where neither dlib nor the detector is installed.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from moderation.config import Settings
from moderation.errors import ConfigError, InputError
from moderation.images import read_image
from moderation.synth.bank import list_images

BATCH = 64


@dataclass
class FaceIndex:
    root: Path
    keys: np.ndarray        # (n,) relative paths
    people: np.ndarray      # (n,) person names (the sub-folder)
    landmarks: np.ndarray   # (n, 68, 2) float32, photo pixels
    boxes: np.ndarray       # (n, 4) float32, the detector's box in photo pixels

    def __len__(self) -> int:
        return len(self.keys)

    def split(self, validation_share: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
        """Indices of the training and validation photos, split by person: nobody is in both.
        A stable hash of the name decides, so the split never depends on the subset."""
        buckets = np.array([zlib.crc32(person.encode()) % 1000 for person in self.people])
        validation = buckets < validation_share * 1000
        return np.flatnonzero(~validation), np.flatnonzero(validation)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, keys=self.keys, people=self.people, landmarks=self.landmarks,
                            boxes=self.boxes)

    @classmethod
    def load(cls, path: Path, root: Path) -> FaceIndex:
        if not Path(path).is_file():
            raise ConfigError(f"{path}: no face index; build it with `moderation train "
                              "--prepare`")
        with np.load(path, allow_pickle=False) as data:
            return cls(Path(root), data["keys"], data["people"], data["landmarks"],
                       data["boxes"])


def build_index(root: Path, settings: Settings, limit: int | None = None,
                seed: int = 0) -> FaceIndex:
    """Measure landmarks and boxes of ``limit`` photos drawn at random (all when None);
    photos where either finds no face are left out."""
    from moderation.faces.detection import build_detector
    from moderation.faces.landmarks import LandmarkDetector

    keys = list_images(Path(root))
    if not keys:
        raise ConfigError(f"{root}: contains no images")
    order = np.random.default_rng(seed).permutation(len(keys))
    chosen = [keys[i] for i in (order[:limit] if limit else order)]
    landmark_detector, face_detector = LandmarkDetector(settings.landmark_upsample), \
        build_detector(settings)
    kept, people, landmarks, boxes = [], [], [], []
    progress = tqdm(total=len(chosen), desc="faces index", unit="photo")
    for start in range(0, len(chosen), BATCH):
        measured = []
        for key in chosen[start:start + BATCH]:
            try:
                image = read_image(Path(root) / key, settings.min_image_px)
                measured.append((key, image, landmark_detector(image, key)))
            except InputError:
                continue
        # Photos of one size (all of LFW) go through the detector as one batch.
        found_all = face_detector.detect([image for _, image, _ in measured])
        for (key, _, points), found in zip(measured, found_all, strict=True):
            centre = points.mean(axis=0)
            inside = [d for d in found if d.box[0] < centre[0] < d.box[2]
                      and d.box[1] < centre[1] < d.box[3]]
            if inside:
                kept.append(key)
                people.append(key.rsplit("/", 1)[0] if "/" in key else key)
                landmarks.append(points)
                boxes.append(inside[0].box)
        progress.update(len(chosen[start:start + BATCH]))
    progress.close()
    return FaceIndex(Path(root), np.array(kept), np.array(people),
                     np.array(landmarks, np.float32).reshape(-1, 68, 2),
                     np.array(boxes, np.float32).reshape(-1, 4))
