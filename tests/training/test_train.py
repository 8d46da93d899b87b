"""Training options: the learned fusion's share of the fakes, and fine-tuning from a checkpoint."""

from __future__ import annotations

import numpy as np
import pytest

from moderation.config import Settings
from moderation.detector.checkpoint import save_checkpoint
from moderation.detector.registry import build_model
from moderation.errors import ConfigError
from moderation.synth.compose import _weights
from moderation.training.data import SwapTrainingSet, widened_pipeline
from moderation.training.train import TrainConfig, _initial_weights, detector_config


def _fusion_shares(pipeline) -> dict[str, float]:
    fusions = pipeline.children[-1]
    return {child.name: float(w) for child, w in zip(fusions.children, _weights(fusions.children),
                                                     strict=True)}


def test_the_default_recipe_has_no_learned_fusion():
    assert "learned" not in _fusion_shares(widened_pipeline("pair", 0))


@pytest.mark.parametrize("share", [0.2, 0.5])
def test_learned_fusion_takes_its_share_of_the_fakes(share):
    shares = _fusion_shares(widened_pipeline("pair", 1, learned_fusion=share))
    assert shares["learned"] == pytest.approx(share)
    assert sum(shares.values()) == pytest.approx(1.0)


def test_fakes_of_a_learned_fusion_run_record_it_in_their_recipe(lfw_subset):
    from moderation.training.faces_index import build_index

    index = build_index(lfw_subset, Settings(), limit=8, seed=0)
    config = detector_config(TrainConfig(index=lfw_subset, real_root=lfw_subset, out=lfw_subset))
    dataset = SwapTrainingSet(index, np.arange(len(index)), config, 4, seed=0,
                              learned_fusion=1.0)
    ops = [op.op for op in dataset.fake_crop(np.random.default_rng(3))[1].ops]
    assert "fusion/learned" in ops


def test_fine_tuning_starts_from_the_checkpoint_and_refuses_another_model(tmp_path):
    run = TrainConfig(index=tmp_path, real_root=tmp_path, out=tmp_path)
    model = build_model("mobilenet_v2")
    save_checkpoint(tmp_path / "same.pt", detector_config(run), model.state_dict())
    state = _initial_weights(tmp_path / "same.pt", detector_config(run))
    assert all(np.array_equal(state[k].numpy(), v.numpy())
               for k, v in model.state_dict().items())

    other = TrainConfig(index=tmp_path, real_root=tmp_path, out=tmp_path, input_size=224)
    save_checkpoint(tmp_path / "other.pt", detector_config(other), model.state_dict())
    with pytest.raises(ConfigError, match="other.pt"):
        _initial_weights(tmp_path / "other.pt", detector_config(run))
