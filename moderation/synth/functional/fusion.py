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
    """Gradient-domain (Poisson) cloning of the source into the target, then the soft mask.

    OpenCV solves inside the binary support of the mask and fails when that support touches the
    image border, so images are padded first. ``mixed`` keeps the stronger of the two gradients.
    """
    support = (mask > 0).astype(np.uint8) * 255
    if not support.any():
        return target.copy()
    pad = 16
    padded_source = cv2.copyMakeBorder(source, pad, pad, pad, pad, cv2.BORDER_REFLECT)
    padded_target = cv2.copyMakeBorder(target, pad, pad, pad, pad, cv2.BORDER_REFLECT)
    padded_support = cv2.copyMakeBorder(support, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    x, y, width, height = cv2.boundingRect(padded_support)
    centre = (x + width // 2, y + height // 2)
    flag = cv2.MIXED_CLONE if mixed else cv2.NORMAL_CLONE
    cloned = cv2.seamlessClone(padded_source, padded_target, padded_support, centre, flag)
    cloned = cloned[pad:-pad, pad:-pad]
    return restrict_to_mask(alpha(cloned, target, mask), target, mask)


def laplacian_pyramid(source, target, mask, levels: int) -> np.ndarray:
    """Burt-Adelson multiband blending: band-pass layers mixed with a Gaussian pyramid of the mask."""
    source_f, target_f = source.astype(np.float32), target.astype(np.float32)
    weights = [mask]
    for _ in range(levels):
        weights.append(cv2.pyrDown(weights[-1]))
    blended = None
    source_bands, target_bands = _laplacian(source_f, levels), _laplacian(target_f, levels)
    for level in range(levels, -1, -1):
        weight = weights[level][..., None]
        band = source_bands[level] * weight + target_bands[level] * (1.0 - weight)
        if blended is None:
            blended = band
        else:
            blended = cv2.pyrUp(blended, dstsize=band.shape[1::-1]) + band
    return restrict_to_mask(to_uint8(blended), target, mask)


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
    """Blend the wavelet coefficients of each channel with the mask resampled to each scale."""
    source_f, target_f = source.astype(np.float32), target.astype(np.float32)
    source_coeffs = pywt.wavedec2(source_f, wavelet_name, level=level, axes=(0, 1))
    target_coeffs = pywt.wavedec2(target_f, wavelet_name, level=level, axes=(0, 1))
    blended = [_mix(source_coeffs[0], target_coeffs[0], mask)]
    for source_details, target_details in zip(source_coeffs[1:], target_coeffs[1:], strict=True):
        blended.append(tuple(
            _mix(s, t, mask) for s, t in zip(source_details, target_details, strict=True)
        ))
    fused = pywt.waverec2(blended, wavelet_name, axes=(0, 1))
    height, width = target.shape[:2]
    return restrict_to_mask(to_uint8(fused[:height, :width]), target, mask)


def _mix(source_band: np.ndarray, target_band: np.ndarray, mask: np.ndarray) -> np.ndarray:
    band_height, band_width = source_band.shape[:2]
    weight = cv2.resize(mask, (band_width, band_height), interpolation=cv2.INTER_AREA)[..., None]
    return source_band * weight + target_band * (1.0 - weight)
