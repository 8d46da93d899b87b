"""Face masks: the landmark hull and its random deformations. Masks are float32 in [0, 1]."""

from __future__ import annotations

import cv2
import numpy as np


def hull_mask(landmarks: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Convex hull of the landmarks filled with 1 on 0 (255 on black, scaled to [0, 1])."""
    mask = np.zeros(size, np.uint8)
    hull = cv2.convexHull(np.round(landmarks).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 255, lineType=cv2.LINE_8)
    return mask.astype(np.float32) / 255.0


def jitter_landmarks(landmarks: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return landmarks + rng.normal(0.0, sigma, landmarks.shape).astype(np.float32)


def scale_landmarks(landmarks: np.ndarray, scale_x: float, scale_y: float) -> np.ndarray:
    """Grow or shrink the outline about its centroid (area scales by ``scale_x * scale_y``)."""
    centre = landmarks.mean(axis=0)
    return (landmarks - centre) * np.float32([scale_x, scale_y]) + centre


def elastic(mask: np.ndarray, magnitude: float, grid: int, seed: int) -> np.ndarray:
    """Bend the boundary with a smooth random displacement field.

    Displacements are drawn on a coarse ``grid`` x ``grid`` lattice and upsampled bicubically, so
    the boundary shifts and curves without tearing. ``magnitude`` is in pixels.
    """
    rng = np.random.default_rng(seed)
    height, width = mask.shape
    coarse = rng.uniform(-magnitude, magnitude, (2, grid, grid)).astype(np.float32)
    dx = cv2.resize(coarse[0], (width, height), interpolation=cv2.INTER_CUBIC)
    dy = cv2.resize(coarse[1], (width, height), interpolation=cv2.INTER_CUBIC)
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    return cv2.remap(mask, xs + dx, ys + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def piecewise_affine(mask: np.ndarray, magnitude: float, grid: int, seed: int) -> np.ndarray:
    """Move the nodes of a ``grid`` x ``grid`` mesh at random and warp each triangle affinely.

    Each mesh cell is split into two triangles; inside a triangle the displacement is the affine
    (barycentric) blend of its corners' displacements, which is exactly a piecewise-affine warp.
    Built directly on the regular mesh: scikit-image's general ``PiecewiseAffineTransform`` costs
    20 ms per mask against under 1 ms here. ``magnitude`` is a fraction of the mask's side.
    """
    rng = np.random.default_rng(seed)
    height, width = mask.shape
    side = np.array([width, height], dtype=np.float32)[:, None, None]
    moves = rng.uniform(-magnitude, magnitude, (2, grid, grid)).astype(np.float32) * side
    cell_y = np.linspace(0, grid - 1, height, dtype=np.float32)
    cell_x = np.linspace(0, grid - 1, width, dtype=np.float32)
    row = np.minimum(cell_y.astype(np.intp), grid - 2)[:, None]
    column = np.minimum(cell_x.astype(np.intp), grid - 2)[None, :]
    v = (cell_y[:, None] - row).astype(np.float32)
    u = (cell_x[None, :] - column).astype(np.float32)
    upper = (u + v) <= 1.0
    maps = []
    for axis_moves in moves:
        d00, d01 = axis_moves[row, column], axis_moves[row, column + 1]
        d10, d11 = axis_moves[row + 1, column], axis_moves[row + 1, column + 1]
        lower_tri = d11 + (1 - u) * (d10 - d11) + (1 - v) * (d01 - d11)
        maps.append(np.where(upper, d00 + u * (d01 - d00) + v * (d10 - d00), lower_tri))
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    return cv2.remap(mask, xs + maps[0], ys + maps[1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_CONSTANT)


def morphology(mask: np.ndarray, operation: str, kernel: int) -> np.ndarray:
    """Erode or dilate with an elliptical structuring element of side ``kernel``."""
    element = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (kernel, kernel))
    if operation == "erode":
        return cv2.erode(mask, element)
    return cv2.dilate(mask, element)


def soften(mask: np.ndarray, kernel: int) -> np.ndarray:
    """Feather the edge with a Gaussian; the soft edge is where blending artifacts live."""
    # float rounding in the filter can give 1.0000001; masks must stay in [0, 1]
    return np.clip(cv2.GaussianBlur(mask, (kernel, kernel), 0), 0.0, 1.0)


def boundary(mask: np.ndarray) -> np.ndarray:
    """The blending-boundary map of Face X-ray, ``4 * M * (1 - M)``: 1 where the mix is even."""
    return 4.0 * mask * (1.0 - mask)


def subtract(mask: np.ndarray, occlusion: np.ndarray) -> np.ndarray:
    """Remove occluded pixels (1 = occluded) from the mask, clipped at 0."""
    return np.clip(mask - occlusion, 0.0, 1.0)
