"""Fusion of the source face into the target.

Every method returns an image equal to the target wherever the mask is 0: the final step
``restrict_to_mask`` guarantees it for methods whose support spreads (pyramids, wavelets).
"""

from __future__ import annotations

import cv2
import numpy as np
import pywt

from moderation.synth.functional.degrade import to_uint8


def restrict_to_mask(fused: np.ndarray, target: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return np.where(mask[..., None] > 0, fused, target)


def alpha(source, target, mask) -> np.ndarray:
    """``out = (1 - a) * B + a * A`` with the soft mask as ``a``."""
    weight = mask[..., None]
    return to_uint8(target * (1.0 - weight) + source * weight)


def poisson(source, target, mask, mixed: bool) -> np.ndarray:
    """Gradient-domain (Poisson) fusion, then the soft mask.

    The guidance field is A's gradients inside the mask's support and B's outside (``mixed``
    keeps, inside, whichever of the two gradients is stronger), and the Poisson equation is
    solved over the whole box with B on its border: the formulation of OpenCV's
    ``seamlessClone``, solved here with SciPy's sine transform on float32, which is 2.5 times
    faster at our sizes and needs no padding away from the image border.
    """
    support = mask > 0
    if not support.any():
        return target.copy()
    source_f, target_f = source.astype(np.float32), target.astype(np.float32)
    source_gx, source_gy = _gradients(source_f)
    target_gx, target_gy = _gradients(target_f)
    inside = support[..., None]
    if mixed:
        inside = inside & (np.abs(source_gx) + np.abs(source_gy)
                           > np.abs(target_gx) + np.abs(target_gy))
    guidance_x = np.where(inside, source_gx, target_gx)
    guidance_y = np.where(inside, source_gy, target_gy)
    solved = solve_poisson(_divergence(guidance_x, guidance_y), target_f)
    return restrict_to_mask(alpha(to_uint8(solved), target, mask), target, mask)


def _gradients(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Forward differences along x and y, zero on the last column and row."""
    gx = np.zeros_like(image)
    gy = np.zeros_like(image)
    gx[:, :-1] = image[:, 1:] - image[:, :-1]
    gy[:-1] = image[1:] - image[:-1]
    return gx, gy


def _divergence(gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """Backward differences, the adjoint of ``_gradients``: together they give the Laplacian."""
    div = gx.copy()
    div[:, 1:] -= gx[:, :-1]
    div += gy
    div[1:] -= gy[:-1]
    return div


def solve_poisson(divergence: np.ndarray, boundary: np.ndarray) -> np.ndarray:
    """Solve ``laplacian(f) = divergence`` inside the box with ``f = boundary`` on its border.

    The border values move to the right-hand side; the rest is a zero-border problem that the
    type-I discrete sine transform diagonalises.
    """
    from scipy import fft

    fixed = boundary.copy()
    fixed[1:-1, 1:-1] = 0
    rhs = divergence[1:-1, 1:-1] - _laplacian_of(fixed)[1:-1, 1:-1]
    rows, columns = rhs.shape[:2]
    eigen_y = 2 * np.cos(np.pi * np.arange(1, rows + 1) / (rows + 1)) - 2
    eigen_x = 2 * np.cos(np.pi * np.arange(1, columns + 1) / (columns + 1)) - 2
    denominator = (eigen_y[:, None] + eigen_x[None, :]).astype(np.float32)[..., None]
    interior = fft.idstn(fft.dstn(rhs, type=1, axes=(0, 1)) / denominator, type=1, axes=(0, 1))
    solved = boundary.copy()
    solved[1:-1, 1:-1] = interior
    return solved


def _laplacian_of(image: np.ndarray) -> np.ndarray:
    return cv2.filter2D(image, -1, np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], np.float32),
                        borderType=cv2.BORDER_CONSTANT)


def laplacian_pyramid(source, target, mask, levels: int) -> np.ndarray:
    """Burt-Adelson multiband blending: each band-pass layer mixed with the mask's Gaussian level.

    The pyramid is linear, so mixing the bands of A and B equals adding the mixed bands of
    ``A - B`` to B: one pyramid instead of two.
    """
    difference = source.astype(np.float32) - target.astype(np.float32)
    weights = [mask]
    for _ in range(levels):
        weights.append(cv2.pyrDown(weights[-1]))
    bands = _laplacian(difference, levels)
    blended = bands[levels] * weights[levels][..., None]
    for level in range(levels - 1, -1, -1):
        blended = cv2.pyrUp(blended, dstsize=bands[level].shape[1::-1])
        blended += bands[level] * weights[level][..., None]
    return restrict_to_mask(to_uint8(target + blended), target, mask)


def _laplacian(image: np.ndarray, levels: int) -> list[np.ndarray]:
    gaussians = [image]
    for _ in range(levels):
        gaussians.append(cv2.pyrDown(gaussians[-1]))
    bands = [
        gaussians[i] - cv2.pyrUp(gaussians[i + 1], dstsize=gaussians[i].shape[1::-1])
        for i in range(levels)
    ]
    return bands + [gaussians[-1]]


def wavelet(source, target, mask, wavelet_name: str, level: int) -> np.ndarray:
    """Mix the 2-D wavelet coefficients of A and B with the mask resampled to each scale.

    As with the pyramid, the transform is linear: only ``A - B`` is transformed, channels first
    so that PyWavelets works on contiguous planes.
    """
    difference = (source.astype(np.float32) - target.astype(np.float32)).transpose(2, 0, 1)
    coefficients = pywt.wavedec2(np.ascontiguousarray(difference), wavelet_name, level=level,
                                 axes=(-2, -1))
    mixed = [_weigh(coefficients[0], mask)]
    mixed += [tuple(_weigh(band, mask) for band in details) for details in coefficients[1:]]
    fused_difference = pywt.waverec2(mixed, wavelet_name, axes=(-2, -1))
    height, width = target.shape[:2]
    fused = target + fused_difference[:, :height, :width].transpose(1, 2, 0)
    return restrict_to_mask(to_uint8(fused), target, mask)


def _weigh(band: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """A (channels, h, w) band times the mask resized to (h, w)."""
    band_height, band_width = band.shape[-2:]
    weight = cv2.resize(mask, (band_width, band_height), interpolation=cv2.INTER_AREA)
    return band * weight

