"""Real LFW faces for on-the-fly training: listing, identity-disjoint split, random face crops."""

from __future__ import annotations

import zlib
from pathlib import Path

import cv2
import numpy as np

LFW = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "faces" / "lfw"
VALIDATION_PERCENT = 10


def split_of(person: str) -> str:
    """``"val"`` or ``"train"`` from a stable hash of the person's folder name.

    CRC32 rather than ``hash()``: Python salts string hashes per process.
    """
    return "val" if zlib.crc32(person.encode()) % 100 < VALIDATION_PERCENT else "train"


def list_faces(root: str | Path = LFW, split: str = "train") -> list[Path]:
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: LFW folder absent (expected <root>/<Name>/*.jpg)")
    return sorted(path for person in sorted(root.iterdir())
                  if person.is_dir() and split_of(person.name) == split
                  for path in person.glob("*.jpg"))


def face_crop(path: Path, rng: np.random.Generator, size: int = 128) -> np.ndarray:
    """A square crop around LFW's centred face, framed like the generator's targets.

    LFW faces sit in the middle of the 250 px photo and span about 110 px, so a 140-200 px
    window with a small shift matches the generator's framing (face about half the frame).
    """
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise OSError(f"{path}: unreadable image")
    height, width = image.shape[:2]
    side = int(rng.uniform(0.56, 0.8) * min(height, width))
    cx = width / 2 + rng.uniform(-0.04, 0.04) * width
    cy = height / 2 + rng.uniform(-0.04, 0.04) * height
    x0 = int(np.clip(cx - side / 2, 0, width - side))
    y0 = int(np.clip(cy - side / 2, 0, height - side))
    crop = image[y0:y0 + side, x0:x0 + side]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
