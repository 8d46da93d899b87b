"""Synthetic occluders pasted onto real faces, so that the occlusion labels are exact.

``occlude(face, rng, donors)`` returns the occluded face and its label (1 = covered). Kinds:
polygons and ellipses (solid colour, noise or stripes), rectangular patches cut from other
photos, and hand-like blobs (a skin-coloured palm with finger rectangles). Each is placed over
the face region with random colour, blur and opacity-free hard labels; soft edges come from a
small blur of the occluder's alpha, and only pixels more than half covered are labelled.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

KINDS = ("polygon", "ellipse", "patch", "hand")


def _texture(rng: np.random.Generator, size: int, donor: np.ndarray | None) -> np.ndarray:
    kind = rng.integers(4) if donor is not None else rng.integers(3)
    colour = rng.uniform(0, 255, 3).astype(np.float32)
    if kind == 0:  # solid
        return np.broadcast_to(colour, (size, size, 3)).copy()
    if kind == 1:  # smooth or fine noise around a colour
        scale = int(rng.choice([1, 4, 16]))
        noise = rng.normal(0, rng.uniform(10, 60), (size // scale + 1, size // scale + 1, 3))
        noise = cv2.resize(noise.astype(np.float32), (size, size), interpolation=cv2.INTER_LINEAR)
        return np.clip(colour + noise, 0, 255)
    if kind == 2:  # stripes of two colours at a random angle and period
        other = rng.uniform(0, 255, 3).astype(np.float32)
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
        angle = rng.uniform(0, np.pi)
        phase = (xx * np.cos(angle) + yy * np.sin(angle)) / rng.uniform(3, 20)
        weight = (np.sin(phase) > 0).astype(np.float32)[..., None]
        return colour * weight + other * (1 - weight)
    # a piece of another photo, anywhere in it
    image = cv2.resize(donor, (size, size)).astype(np.float32)
    return np.roll(image, (int(rng.integers(size)), int(rng.integers(size))), axis=(0, 1))


def _polygon(rng, size, centre, scale):
    count = int(rng.integers(3, 9))
    angles = np.sort(rng.uniform(0, 2 * np.pi, count))
    radii = scale * rng.uniform(0.4, 1.0, count)
    points = centre + np.stack([np.cos(angles), np.sin(angles)], 1) * radii[:, None]
    alpha = np.zeros((size, size), np.float32)
    cv2.fillPoly(alpha, [np.round(points).astype(np.int32)], 1.0)
    return alpha


def _ellipse(rng, size, centre, scale):
    alpha = np.zeros((size, size), np.float32)
    axes = (int(scale * rng.uniform(0.4, 1.0)), int(scale * rng.uniform(0.2, 0.8)))
    cv2.ellipse(alpha, tuple(int(v) for v in centre), axes, rng.uniform(0, 180), 0, 360, 1.0, -1)
    return alpha


def _patch(rng, size, centre, scale):
    alpha = np.zeros((size, size), np.float32)
    half = scale * rng.uniform(0.4, 1.0, 2)
    x0, y0 = (centre - half).astype(int)
    x1, y1 = (centre + half).astype(int)
    cv2.rectangle(alpha, (x0, y0), (x1, y1), 1.0, -1)
    return alpha


def _hand(rng, size, centre, scale):
    """A palm ellipse with 2-5 finger rectangles fanned out from its upper edge, then rotated."""
    alpha = np.zeros((size, size), np.float32)
    palm = (int(scale * 0.55), int(scale * 0.45))
    cx, cy = (int(v) for v in centre)
    cv2.ellipse(alpha, (cx, cy), palm, 0, 0, 360, 1.0, -1)
    fingers = int(rng.integers(2, 6))
    width = max(3, int(palm[0] * 2 / (fingers + 0.5) * 0.8))
    for i in range(fingers):
        x = cx - palm[0] + (i + 0.75) * 2 * palm[0] / (fingers + 0.5)
        length = scale * rng.uniform(0.5, 0.9)
        tilt = np.deg2rad(rng.uniform(-15, 15))
        top = (x + np.sin(tilt) * length, cy - palm[1] * 0.5 - np.cos(tilt) * length)
        cv2.line(alpha, (int(x), cy), (int(top[0]), int(top[1])), 1.0, width)
        cv2.circle(alpha, (int(top[0]), int(top[1])), width // 2, 1.0, -1)
    rotation = cv2.getRotationMatrix2D((float(cx), float(cy)), rng.uniform(-180, 180), 1.0)
    return cv2.warpAffine(alpha, rotation, (size, size), flags=cv2.INTER_NEAREST)


SHAPES: dict[str, Callable] = {"polygon": _polygon, "ellipse": _ellipse, "patch": _patch,
                               "hand": _hand}


def _skin(rng: np.random.Generator, size: int) -> np.ndarray:
    hsv = np.uint8([[[rng.integers(5, 22), rng.integers(50, 170), rng.integers(70, 245)]]])
    colour = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0].astype(np.float32)
    shade = cv2.resize(rng.normal(0, 12, (4, 4, 1)).astype(np.float32), (size, size))
    return np.clip(colour + shade[..., None], 0, 255)


CLEAN_SHARE = 0.25  # faces left without occluders
SHADING_P = 0.5  # faces lit unevenly after the occluders are pasted


def occlude(face: np.ndarray, rng: np.random.Generator,
            donor: np.ndarray | None = None, count: int | None = None,
            clean_share: float = CLEAN_SHARE, shading_p: float = SHADING_P
            ) -> tuple[np.ndarray, np.ndarray]:
    """Paste 0-3 occluders on a square BGR face; return (occluded uint8 face, float32 label).

    ``clean_share`` of the faces are left clean so the network also learns to answer
    "nothing"; ``shading_p`` of them are then lit unevenly (a smooth gain field over the whole
    picture, label unchanged), so shadows on skin are not mistaken for a skin-coloured hand.
    """
    size = face.shape[0]
    image = face.astype(np.float32)
    label = np.zeros((size, size), np.float32)
    if count is None:
        count = 0 if rng.random() < clean_share else int(rng.integers(1, 4))
    for _ in range(count):
        kind = KINDS[int(rng.integers(len(KINDS)))]
        # Centred on the face region (the middle half of the frame), sometimes reaching in
        # from the border as hands, scarves and microphones do.
        centre = size * (0.5 + rng.uniform(-0.3, 0.3, 2))
        scale = size * rng.uniform(0.08, 0.35)
        alpha = SHAPES[kind](rng, size, centre, scale)
        if alpha.sum() < 4:
            continue
        texture = _skin(rng, size) if kind == "hand" else _texture(rng, size, donor)
        texture = texture * rng.uniform(0.7, 1.2) + rng.uniform(-20, 20)
        blur = float(rng.choice([0.0, 0.6, 1.2]))
        if blur:
            texture = cv2.GaussianBlur(texture, (0, 0), blur)
        soft = cv2.GaussianBlur(alpha, (0, 0), rng.uniform(0.3, 1.5))[..., None]
        image = image * (1 - soft) + np.clip(texture, 0, 255) * soft
        label = np.maximum(label, (soft[..., 0] > 0.5).astype(np.float32))
    if shading_p and rng.random() < shading_p:  # no draw at 0: older sample streams replay
        gain = cv2.resize(rng.normal(1.0, 0.2, (3, 3)).astype(np.float32), (size, size),
                          interpolation=cv2.INTER_CUBIC)
        image = image * np.clip(gain, 0.5, 1.5)[..., None]
    return np.clip(image, 0, 255).astype(np.uint8), label
