"""Fusion: outside the mask the fake is B, inside it follows each method's definition."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from moderation.synth.functional import fusion as F
from moderation.synth.registry import registered_ops

FUSIONS = [op for op in registered_ops() if op.step == "fusion"]


@pytest.mark.parametrize("op_class", FUSIONS, ids=lambda op: op.key())
def test_outside_the_mask_the_result_is_b(op_class, state):
    op = op_class()
    for seed in range(4):
        fused = op.apply(state, **op.sample(np.random.default_rng(seed), state)).fake
        outside = state.mask == 0
        assert outside.sum() > 10_000
        np.testing.assert_array_equal(fused[outside], state.target[outside])
        inside = state.mask > 0.99
        assert np.abs(fused[inside].astype(int) - state.target[inside]).mean() > 5


def test_alpha_is_the_formula(state):
    fused = F.alpha(state.source, state.target, state.mask)
    expected = (1 - state.mask[..., None]) * state.target + state.mask[..., None] * state.source
    assert np.abs(fused - expected).max() <= 0.5 + 1e-4


def test_poisson_solver_reproduces_a_known_solution():
    rng = np.random.default_rng(0)
    truth = cv2.GaussianBlur(rng.uniform(0, 255, (40, 50, 3)).astype(np.float32), (9, 9), 3)
    laplacian = cv2.filter2D(truth, -1, np.float32([[0, 1, 0], [1, -4, 1], [0, 1, 0]]))
    solved = F.solve_poisson(laplacian, truth)
    np.testing.assert_allclose(solved, truth, atol=0.05)


def test_normal_poisson_keeps_a_gradients_and_meets_b(state):
    """A is B plus a constant: same gradients, so Poisson fusion lands back on B."""
    brighter = np.clip(state.target.astype(int) + 40, 0, 255).astype(np.uint8)
    hard = (state.mask > 0.5).astype(np.float32)
    fused = F.poisson(brighter, state.target, hard, mixed=False)
    inside = cv2.erode(hard, np.ones((5, 5))) > 0
    unclipped = inside & (state.target.max(axis=2) < 215)
    assert np.abs(fused[unclipped].astype(int) - state.target[unclipped]).mean() < 2.0
    assert np.abs(F.alpha(brighter, state.target, hard)[unclipped].astype(int)
                  - state.target[unclipped]).mean() > 35


def test_poisson_is_close_to_opencv_seamless_clone(state):
    hard = (state.mask > 0.5).astype(np.float32)
    ours = F.poisson(state.source, state.target, hard, mixed=False)
    support = (hard > 0).astype(np.uint8) * 255
    x, y, w, h = cv2.boundingRect(support)
    theirs = cv2.seamlessClone(state.source, state.target, support, (x + w // 2, y + h // 2),
                               cv2.NORMAL_CLONE)
    inside = hard > 0
    assert np.abs(ours[inside].astype(int) - theirs[inside]).mean() < 12
