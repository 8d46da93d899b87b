"""Geometry: placing the source face where the target face is."""

from __future__ import annotations

import cv2
import numpy as np
from skimage.transform import SimilarityTransform


def similarity(source_points: np.ndarray, target_points: np.ndarray) -> np.ndarray:
    """Least-squares similarity (Umeyama) taking source landmarks onto target landmarks, 2x3."""
    transform = SimilarityTransform.from_estimate(source_points, target_points)
    if not transform:  # degenerate points (all equal): keep the source where it is
        return np.eye(3)[:2]
    return np.asarray(transform.params[:2], dtype=np.float64)


def jitter_matrix(size: tuple[int, int], scale: float, angle: float, dx: float,
                  dy: float) -> np.ndarray:
    """A small similarity about the image centre: ``angle`` in degrees, shifts in pixels."""
    height, width = size
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, scale)
    matrix[:, 2] += (dx, dy)
    return matrix


def compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """The 2x3 affine that applies ``inner`` then ``outer``."""
    return (np.vstack([outer, [0, 0, 1]]) @ np.vstack([inner, [0, 0, 1]]))[:2]


def warp_image(image: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    height, width = image.shape[:2]
    return cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT)


def warp_map(values: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Warp a mask-like map; what comes from outside the frame is 0."""
    height, width = values.shape[:2]
    return cv2.warpAffine(values, matrix, (width, height), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def warp_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    return (points @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32)


def support_box(region: np.ndarray, pad: int = 0, grow: float = 0.0) -> tuple[slice, slice] | None:
    """Bounding box of a boolean region, grown by ``pad`` px plus ``grow`` times its size on each
    side and clipped to the image; None when the region is empty."""
    rows, columns = np.flatnonzero(region.any(axis=1)), np.flatnonzero(region.any(axis=0))
    if rows.size == 0:
        return None
    grow_y = pad + int((rows[-1] - rows[0]) * grow)
    grow_x = pad + int((columns[-1] - columns[0]) * grow)
    return (slice(max(rows[0] - grow_y, 0), rows[-1] + grow_y + 1),
            slice(max(columns[0] - grow_x, 0), columns[-1] + grow_x + 1))
