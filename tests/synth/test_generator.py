"""The generator end to end in Python: outputs, recipes, replay, given masks, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from moderation.errors import ConfigError, InputError, NoFaceFound
from moderation.synth.generator import FakeGenerator
from moderation.synth.recipe import Recipe


@pytest.fixture(scope="module")
def generator(detector):
    return FakeGenerator(detector=detector)


def test_outputs(generator, astronaut, recoloured, framed_astronaut):
    _, landmarks = framed_astronaut
    result = generator.make(astronaut, recoloured, seed=5, target_landmarks=landmarks,
                            target_id="recoloured")
    assert result.fake.shape == (256, 256, 3) and result.fake.dtype == np.uint8
    assert result.mask.dtype == np.float32 and 0 <= result.mask.min() <= result.mask.max() <= 1
    assert result.mask.max() == 1.0 and (result.mask == 0).mean() > 0.4
    np.testing.assert_allclose(result.boundary, 4 * result.mask * (1 - result.mask))
    recipe = result.recipe
    assert (recipe.seed, recipe.mode, recipe.target, recipe.size) == (5, "pair", "recoloured", 256)
    steps = [op.op.split("/")[0] for op in recipe.ops]
    assert steps[0] == "geometry" and steps[-1] == "fusion" and "colour" in steps
    assert "mask/hull" in [op.op for op in recipe.ops]
    assert recipe.library and recipe.version == 1


def test_same_seed_same_fake_other_seed_other_fake(generator, astronaut, recoloured,
                                                   framed_astronaut):
    _, landmarks = framed_astronaut
    make = lambda seed: generator.make(astronaut, recoloured, seed=seed,  # noqa: E731
                                       target_landmarks=landmarks)
    first, again, other = make(1), make(1), make(2)
    np.testing.assert_array_equal(first.fake, again.fake)
    assert first.recipe.to_json() == again.recipe.to_json()
    assert not np.array_equal(first.fake, other.fake)


@pytest.mark.parametrize("seed", range(6))
def test_replay_rebuilds_bit_for_bit(generator, astronaut, recoloured, framed_astronaut, seed):
    _, landmarks = framed_astronaut
    made = generator.make(astronaut, recoloured, seed=seed, target_landmarks=landmarks)
    recipe = Recipe.from_dict(json.loads(made.recipe.to_json()))
    rebuilt = generator.replay(recipe, astronaut, recoloured, target_landmarks=landmarks)
    np.testing.assert_array_equal(rebuilt.fake, made.fake)
    np.testing.assert_array_equal(rebuilt.mask, made.mask)


def test_self_blend_needs_one_photo(detector, astronaut):
    result = FakeGenerator(mode="self", detector=detector).make(astronaut, seed=3)
    assert result.recipe.mode == "self" and result.recipe.source == result.recipe.target
    assert np.abs(result.fake.astype(int) - result.target).max() > 10


def test_a_given_mask_replaces_the_hull(generator, framed_astronaut, recoloured):
    image, landmarks = framed_astronaut
    given = np.zeros((256, 256), np.float32)
    given[60:120, 60:200] = 1.0
    result = generator.make(image, recoloured, seed=4, mask=given, source_landmarks=landmarks,
                            target_landmarks=landmarks, framed=True)
    assert result.recipe.given_mask["kind"] == "given"
    assert result.mask[200:, :].max() == 0  # the hull would cover the chin; this mask does not
    with pytest.raises(ConfigError, match="given_mask map differs"):
        generator.replay(result.recipe, image, recoloured, source_landmarks=landmarks,
                         target_landmarks=landmarks, framed=True)


def test_bad_inputs_name_the_input(generator, tmp_path, astronaut):
    blank = np.full((200, 200, 3), 127, np.uint8)
    with pytest.raises(NoFaceFound, match="target: no face found"):
        generator.make(astronaut, blank, seed=1)
    corrupt = tmp_path / "broken.jpg"
    corrupt.write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(InputError, match="broken.jpg: is not an image"):
        generator.make(corrupt, astronaut, seed=1)
    with pytest.raises(InputError, match="tiny: is 20x20 px"):
        generator.make(np.zeros((20, 20, 3), np.uint8), astronaut, seed=1, source_id="tiny")
    with pytest.raises(InputError, match="expected a BGR uint8 image"):
        generator.make(np.zeros((100, 100), np.float32), astronaut, seed=1)
