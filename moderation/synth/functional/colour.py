"""Colour transfer: move the reference face's colour distribution onto the source.

Statistics come from the face regions only (boolean masks), so background and hair do not pull the
result; the mapping is then applied to the whole source image.
"""

from __future__ import annotations

import cv2
import numpy as np

from moderation.synth.functional.degrade import to_uint8

_EPS = 1e-6


def linear(source, reference, source_region, reference_region) -> np.ndarray:
    """Per-channel mean and standard deviation matching in BGR."""
    return to_uint8(_match_moments(source.astype(np.float32), reference.astype(np.float32),
                                   source_region, reference_region))


def lab(source, reference, source_region, reference_region) -> np.ndarray:
    """Reinhard et al.: mean and standard deviation matching in CIELAB."""
    source_lab = cv2.cvtColor(source.astype(np.float32) / 255.0, cv2.COLOR_BGR2LAB)
    reference_lab = cv2.cvtColor(reference.astype(np.float32) / 255.0, cv2.COLOR_BGR2LAB)
    moved = _match_moments(source_lab, reference_lab, source_region, reference_region)
    return to_uint8(cv2.cvtColor(moved, cv2.COLOR_LAB2BGR) * 255.0)


def _match_moments(source, reference, source_region, reference_region):
    source_pixels, reference_pixels = source[source_region], reference[reference_region]
    scale = reference_pixels.std(axis=0) / (source_pixels.std(axis=0) + _EPS)
    return (source - source_pixels.mean(axis=0)) * scale + reference_pixels.mean(axis=0)


def histogram_matching(source, reference, source_region, reference_region) -> np.ndarray:
    """Per-channel histogram specification, as one 256-entry lookup table per channel.

    scikit-image's ``match_histograms`` has no region argument, and a lookup table built from the
    face regions is what lets the mapping apply to the whole image at once.
    """
    tables = [
        _matching_table(source[..., c][source_region], reference[..., c][reference_region])
        for c in range(3)
    ]
    lut = np.stack(tables, axis=1)[:, None, :]  # cv2.LUT takes (256, 1, channels)
    return cv2.LUT(source, lut)


def _matching_table(source_values: np.ndarray, reference_values: np.ndarray) -> np.ndarray:
    source_cdf = np.cumsum(np.bincount(source_values, minlength=256)) / max(source_values.size, 1)
    reference_cdf = np.cumsum(np.bincount(reference_values, minlength=256))
    reference_cdf = reference_cdf / max(reference_values.size, 1)
    return np.clip(np.rint(np.interp(source_cdf, reference_cdf, np.arange(256))), 0, 255).astype(
        np.uint8
    )


def iterative_distribution_transfer(source, reference, source_region, reference_region,
                                    iterations: int, seed: int, relaxation: float = 1.0,
                                    quantiles: int = 64) -> np.ndarray:
    """Probability-density-based transfer (Pitié et al., 2005).

    Each iteration rotates the colour space at random, matches the 1-D marginals along the three
    rotated axes by quantile mapping, and rotates back; the full 3-D distribution converges to the
    reference's. ``quantiles`` points per axis are enough for smooth 8-bit colour.
    """
    rng = np.random.default_rng(seed)
    height, width = source.shape[:2]
    pixels = source.reshape(-1, 3).astype(np.float32)
    region_index = np.flatnonzero(source_region.reshape(-1))
    target = reference[reference_region].astype(np.float32)
    levels = np.linspace(0, 100, quantiles, dtype=np.float32)
    for _ in range(iterations):
        rotation, _ = np.linalg.qr(rng.standard_normal((3, 3)))
        rotation = rotation.astype(np.float32)
        projected = pixels @ rotation
        target_projected = target @ rotation
        source_q = np.percentile(projected[region_index], levels, axis=0)
        target_q = np.percentile(target_projected, levels, axis=0)
        shift = np.empty_like(projected)
        for axis in range(3):
            mapped = np.interp(projected[:, axis], source_q[:, axis], target_q[:, axis])
            shift[:, axis] = mapped - projected[:, axis]
        pixels += relaxation * (shift @ rotation.T)
    return to_uint8(pixels.reshape(height, width, 3))


def colour_jitter(source, brightness: float, contrast: float, hue: float, saturation: float,
                  channel_shift: tuple[float, float, float]) -> np.ndarray:
    """Brightness, contrast, hue, saturation and per-channel shifts, for self-blended fakes."""
    image = source.astype(np.float32)
    image = (image - 127.5) * contrast + 127.5 + brightness + np.float32(channel_shift)
    hsv = cv2.cvtColor(to_uint8(image), cv2.COLOR_BGR2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + hue) % 180
    hsv[..., 1] = hsv[..., 1] * saturation
    return cv2.cvtColor(to_uint8(hsv), cv2.COLOR_HSV2BGR)
