"""The learned fusion: B outside the mask, a real change inside, registered by name."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from moderation.synth.functional import fusion as F
from moderation.synth.functional.mask import hull_mask, soften
from moderation.synth.state import SwapState
from moderation.weights import file_digest
from tests.conftest import LFW, LFW_PEOPLE


@pytest.fixture(scope="module")
def swap_state(framed) -> SwapState:
    image, landmarks = framed
    recoloured = np.clip((image.astype(np.float32) - 128) * 0.7 + 128 + [40, -10, -30], 0, 255)
    target = cv2.warpAffine(recoloured.astype(np.uint8), np.float32([[1, 0, 6], [0, 1, -4]]),
                            (256, 256), borderMode=cv2.BORDER_REFLECT)
    return SwapState(source=image, target=target, source_landmarks=landmarks,
                     target_landmarks=landmarks + np.float32([6, -4]),
                     mask=soften(hull_mask(landmarks, (256, 256)), 15))


def _check(module, state):
    op = module.LearnedFusion()
    fused = op.apply(state, **op.sample(np.random.default_rng(0), state)).fake
    assert fused.dtype == np.uint8 and fused.shape == state.target.shape
    outside = state.mask == 0
    np.testing.assert_array_equal(fused[outside], state.target[outside])
    inside = state.mask > 0.5
    alpha = F.alpha(state.source, state.target, state.mask)
    assert np.abs(fused[inside].astype(int) - alpha[inside]).mean() > 1.0
    return fused


def test_keeps_b_outside_and_differs_from_alpha_inside(learned_fusion_module, swap_state):
    first = _check(learned_fusion_module, swap_state)
    again = _check(learned_fusion_module, swap_state)
    np.testing.assert_array_equal(first, again)  # deterministic: replays bit for bit


@pytest.mark.shared
def test_runs_on_an_lfw_pair(learned_fusion_module):
    if not LFW.is_dir():
        pytest.skip(f"{LFW} is absent: the real faces of ../shared are needed")
    a, b = (cv2.imread(str(next((LFW / p).glob("*.jpg")))) for p in LFW_PEOPLE[:2])
    mask = np.zeros(a.shape[:2], np.float32)
    cv2.ellipse(mask, (125, 130), (40, 55), 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), 5)
    mask[mask < 0.02] = 0
    state = SwapState(source=a, target=b, source_landmarks=None, target_landmarks=None,
                      mask=mask)
    _check(learned_fusion_module, state)


def test_registered_by_name(learned_fusion_module):
    from moderation.synth.registry import get_op, op_from_dict

    op_class = get_op("fusion/learned")
    assert op_class is learned_fusion_module.LearnedFusion
    assert type(op_from_dict(op_class().to_dict())) is op_class


def test_the_recipe_records_the_weights_and_a_replay_with_others_is_refused(
        learned_fusion_module, swap_state):
    from moderation.errors import ConfigError

    op = learned_fusion_module.LearnedFusion()
    params = op.sample(np.random.default_rng(0), swap_state)
    digest = learned_fusion_module.weights_digest()
    assert params == {"weights": digest} and digest == file_digest(learned_fusion_module.WEIGHTS)
    assert digest.startswith("sha256:") and len(digest) == len("sha256:") + 16
    with pytest.raises(ConfigError, match=f"used weights sha256:0123; .* is {digest}"):
        op.apply(swap_state, weights="sha256:0123")
    # A recipe made before recipes recorded the weights (no parameter) still replays.
    np.testing.assert_array_equal(op.apply(swap_state).fake,
                                  op.apply(swap_state, **params).fake)
