"""Colour transfer moves A's face statistics onto B's, measured on the face regions."""

from __future__ import annotations

import numpy as np
import pytest

from moderation.synth.functional import colour as F
from moderation.synth.ops.colour import face_regions

# Tolerances, in 8-bit levels: mean of each channel, and standard deviation (relative).
TOLERANCES = {
    F.linear: (1.5, 0.05),
    F.lab: (4.0, 0.15),  # LAB moments, checked in BGR: a non-linear map away from LAB
    F.histogram_matching: (2.0, 0.05),
}


def _stats(image, region):
    pixels = image[region].astype(np.float64)
    return pixels.mean(axis=0), pixels.std(axis=0)


@pytest.mark.parametrize("transfer", list(TOLERANCES), ids=lambda f: f.__name__)
def test_face_statistics_reach_the_reference(transfer, state):
    source_region, target_region = face_regions(state)
    moved = transfer(state.source, state.target, source_region, target_region)
    mean, std = _stats(moved, source_region)
    target_mean, target_std = _stats(state.target, target_region)
    start_mean, _ = _stats(state.source, source_region)
    mean_tol, std_tol = TOLERANCES[transfer]
    assert np.abs(start_mean - target_mean).max() > 20  # the test starts far apart
    np.testing.assert_allclose(mean, target_mean, atol=mean_tol)
    np.testing.assert_allclose(std, target_std, rtol=std_tol)


def test_pdf_transfer_matches_the_whole_distribution(state):
    source_region, target_region = face_regions(state)
    moved = F.iterative_distribution_transfer(state.source, state.target, source_region,
                                              target_region, iterations=10, seed=1)
    mean, std = _stats(moved, source_region)
    target_mean, target_std = _stats(state.target, target_region)
    np.testing.assert_allclose(mean, target_mean, atol=3.0)
    np.testing.assert_allclose(std, target_std, rtol=0.1)
    # Beyond two moments: the per-channel deciles agree too.
    deciles = np.percentile(moved[source_region], np.arange(10, 100, 10), axis=0)
    target_deciles = np.percentile(state.target[target_region], np.arange(10, 100, 10), axis=0)
    assert np.abs(deciles - target_deciles).max() < 8


def test_pdf_transfer_leaves_pixels_far_from_the_face(state):
    source_region, target_region = face_regions(state)
    moved = F.iterative_distribution_transfer(state.source, state.target, source_region,
                                              target_region, iterations=3, seed=1)
    np.testing.assert_array_equal(moved[:5, :5], state.source[:5, :5])
