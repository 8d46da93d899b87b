"""Occlusion: what covers B's face leaves the mask, and the mask never grows."""

from __future__ import annotations

import numpy as np
import pytest

from moderation.synth.generator import FakeGenerator
from moderation.synth.ops.occlusion import Subtract


@pytest.mark.parametrize("dilate", [0, 3])
def test_subtract_removes_the_occluded_region(state, dilate):
    out = Subtract().apply(state, dilate=dilate)
    occluded = state.occlusion > 0
    assert state.mask[occluded].max() > 0.9  # the occluder does sit on the face
    assert out.mask[occluded].max() == 0.0
    assert (out.mask <= state.mask).all()
    np.testing.assert_array_equal(out.mask[~occluded & (state.mask == 0)], 0)


def test_no_occlusion_map_leaves_the_mask(state):
    out = Subtract().apply(state.replace(occlusion=None), dilate=2)
    np.testing.assert_array_equal(out.mask, state.mask)


class BoxOccluder:
    """A stand-in segmenter (the learned one is a later issue): marks a fixed box as occluded."""

    name = "test-box"

    def __call__(self, face):
        occlusion = np.zeros(face.shape[:2], np.float32)
        occlusion[140:200, 90:170] = 1.0
        return occlusion


def test_a_segmenter_plugs_into_the_generator(framed_astronaut, recoloured, detector):
    image, landmarks = framed_astronaut
    plain = FakeGenerator(detector=detector)
    segmented = FakeGenerator(detector=detector, occlusion_model=BoxOccluder())
    kwargs = dict(seed=11, source_landmarks=landmarks, target_landmarks=landmarks, framed=True)
    without = plain.make(image, recoloured, **kwargs)
    with_model = segmented.make(image, recoloured, **kwargs)
    assert with_model.recipe.occlusion == {"kind": "model", "name": "test-box"}
    assert with_model.mask[140:200, 90:170].max() == 0.0
    assert without.mask[140:200, 90:170].max() > 0.5
    assert (with_model.mask <= without.mask).all()
