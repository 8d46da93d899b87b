"""Traits of generated faces: blur, lossy compression, resampling and noise.

Every function takes and returns a BGR uint8 image. Noise functions take an integer ``seed`` so
that the same parameters give the same pixels.
"""

from __future__ import annotations

import cv2
import numpy as np


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Round and clip a float image back to the valid range."""
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def gaussian_blur(image: np.ndarray, kernel: int, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(image, (kernel, kernel), sigma)


def box_blur(image: np.ndarray, kernel: int) -> np.ndarray:
    return cv2.blur(image, (kernel, kernel))


_KAWASE_DOWN = np.array([[1, 0, 1], [0, 4, 0], [1, 0, 1]], np.float32) / 8
_KAWASE_UP = np.array([[1, 2, 1], [2, 0, 2], [1, 2, 1]], np.float32) / 12


def dual_kawase_blur(image: np.ndarray, levels: int) -> np.ndarray:
    """Dual-filter (Kawase) blur: filtered half-size passes down, then filtered passes back up."""
    sizes = []
    current = image
    for _ in range(levels):
        sizes.append(current.shape[1::-1])
        current = cv2.filter2D(current, -1, _KAWASE_DOWN, borderType=cv2.BORDER_REFLECT)
        current = cv2.resize(current, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_LINEAR)
    for size in reversed(sizes):
        current = cv2.resize(current, size, interpolation=cv2.INTER_LINEAR)
        current = cv2.filter2D(current, -1, _KAWASE_UP, borderType=cv2.BORDER_REFLECT)
    return current


def disc_kernel(radius: int) -> np.ndarray:
    size = 2 * radius + 1
    kernel = np.zeros((size, size), np.float32)
    cv2.circle(kernel, (radius, radius), radius, 1.0, thickness=-1, lineType=cv2.LINE_AA)
    return kernel / kernel.sum()


def bokeh_blur(image: np.ndarray, radius: int) -> np.ndarray:
    """Lens (disc) blur: each pixel spreads into a uniform disc, like an out-of-focus lens."""
    return cv2.filter2D(image, -1, disc_kernel(radius), borderType=cv2.BORDER_REFLECT)


def tilt_shift_blur(image: np.ndarray, kernel: int, focus: float, band: float) -> np.ndarray:
    """Sharp horizontal band at relative height ``focus`` (width ``band``), blur growing away."""
    height = image.shape[0]
    blurred = cv2.GaussianBlur(image, (kernel, kernel), 0)
    rows = np.linspace(0.0, 1.0, height, dtype=np.float32)
    weight = np.clip((np.abs(rows - focus) - band / 2) / max(band, 1e-3), 0.0, 1.0)[:, None, None]
    return to_uint8(image * (1 - weight) + blurred * weight)


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    return _reencode(image, ".jpg", [cv2.IMWRITE_JPEG_QUALITY, quality])


def webp(image: np.ndarray, quality: int) -> np.ndarray:
    return _reencode(image, ".webp", [cv2.IMWRITE_WEBP_QUALITY, quality])


def _reencode(image: np.ndarray, extension: str, options: list[int]) -> np.ndarray:
    ok, encoded = cv2.imencode(extension, image, options)
    if not ok:
        raise RuntimeError(f"OpenCV could not encode {extension}")
    return cv2.imdecode(encoded, cv2.IMREAD_COLOR)


INTERPOLATIONS = {
    "nearest": cv2.INTER_NEAREST,
    "linear": cv2.INTER_LINEAR,
    "cubic": cv2.INTER_CUBIC,
    "area": cv2.INTER_AREA,
}


def resample(image: np.ndarray, scale: float, down: str, up: str) -> np.ndarray:
    """Shrink by ``scale`` and enlarge back: the softness of an upscaled generated face."""
    height, width = image.shape[:2]
    small_size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = cv2.resize(image, small_size, interpolation=INTERPOLATIONS[down])
    return cv2.resize(small, (width, height), interpolation=INTERPOLATIONS[up])


def gaussian_noise(image: np.ndarray, mean: float, std: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(image.shape, dtype=np.float32) * std + mean
    return to_uint8(image + noise)


def poisson_noise(image: np.ndarray, peak: float, seed: int) -> np.ndarray:
    """Shot noise: each value becomes a photon count at ``peak`` photons for full white.

    Counts are drawn from the normal approximation of the Poisson law (mean and variance equal
    to the expected count), five times faster than exact Poisson draws and indistinguishable
    after rounding to 8 bits for all but the darkest pixels.
    """
    rng = np.random.default_rng(seed)
    expected = image.astype(np.float32) * np.float32(peak / 255.0)
    counts = expected + np.sqrt(expected) * rng.standard_normal(image.shape, dtype=np.float32)
    return to_uint8(counts * np.float32(255.0 / peak))


def salt_and_pepper(image: np.ndarray, amount: float, salt: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    draws = rng.random(image.shape[:2], dtype=np.float32)
    out = image.copy()
    out[draws < amount * salt] = 255
    out[(draws >= amount * salt) & (draws < amount)] = 0
    return out
