"""Reading and writing images with errors that name the file."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np

from moderation.errors import ImageTooSmall, UnreadableImage

# The photo files every part of the package reads (with read_image); videos are
# moderation.video.reader.VIDEO_SUFFIXES.
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp"})


def read_image(path: str | Path, min_side: int = 1) -> np.ndarray:
    """Read a colour image as a BGR uint8 array; raise ``UnreadableImage`` or ``ImageTooSmall``."""
    path = Path(path)
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise UnreadableImage(str(path), f"cannot be read ({exc.strerror or exc})") from None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise UnreadableImage(str(path), "is not an image OpenCV can decode")
    check_size(image, str(path), min_side)
    return image


def check_size(image: np.ndarray, source: str, min_side: int) -> None:
    height, width = image.shape[:2]
    if min(height, width) < min_side:
        raise ImageTooSmall(
            source, f"is {width}x{height} px; the shorter side must be at least {min_side} px"
        )


def write_png(path: Path, image: np.ndarray) -> None:
    """Write a PNG atomically, so a killed run never leaves a truncated file behind."""
    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise OSError(f"could not encode {path} as PNG")
    partial = path.with_name(path.name + ".partial")
    encoded.tofile(partial)
    partial.replace(path)


def array_digest(array: np.ndarray) -> str:
    """A short content hash used to tie a recipe to the exact array it was made with."""
    digest = hashlib.sha256()
    digest.update(str(array.shape).encode())
    digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]
