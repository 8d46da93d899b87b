"""A picture to look at: rows of (A, B, mask, fake)."""

from __future__ import annotations

import cv2
import numpy as np

HEADERS = ("A (source)", "B (target)", "mask", "fake")


def preview_grid(rows: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
                 tile: int = 160) -> np.ndarray:
    """Stack rows of four BGR images (the mask may be 2-D, float or uint8) under a header."""
    header = np.full((28, tile * len(HEADERS), 3), 255, np.uint8)
    for column, title in enumerate(HEADERS):
        cv2.putText(header, title, (column * tile + 6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                    (0, 0, 0), 1, cv2.LINE_AA)
    lines = [header]
    for images in rows:
        tiles = [cv2.resize(_as_bgr(image), (tile, tile), interpolation=cv2.INTER_AREA)
                 for image in images]
        lines.append(np.hstack(tiles))
    return np.vstack(lines)


def _as_bgr(image: np.ndarray) -> np.ndarray:
    if image.dtype != np.uint8:
        image = np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    return image
