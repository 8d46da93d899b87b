"""Bringing a face photo to the generator's square size, centred on the face."""

from __future__ import annotations

import cv2
import numpy as np

from moderation.synth.functional.geometry import warp_points


def face_square(landmarks: np.ndarray, crop_scale: float) -> tuple[float, float, float]:
    """Centre (x, y) and side of a square ``crop_scale`` times the landmarks' larger extent."""
    low, high = landmarks.min(axis=0), landmarks.max(axis=0)
    centre = (low + high) / 2
    side = float(max(high - low)) * crop_scale
    return float(centre[0]), float(centre[1]), side


def frame_face(image: np.ndarray, landmarks: np.ndarray, size: int,
               crop_scale: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Crop a square around the face (or take the whole image when ``crop_scale`` is None)
    and resize it to ``size`` x ``size``; landmarks follow. Outside the photo is black.

    Works on colour images and on single-channel maps (masks, occlusion maps) alike.
    """
    height, width = image.shape[:2]
    if crop_scale is None:
        matrix = np.array([[size / width, 0, 0], [0, size / height, 0]], dtype=np.float64)
    else:
        cx, cy, side = face_square(landmarks, crop_scale)
        scale = size / side
        matrix = np.array([[scale, 0, size / 2 - cx * scale], [0, scale, size / 2 - cy * scale]])
    framed = cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    return framed, warp_points(landmarks, matrix)
