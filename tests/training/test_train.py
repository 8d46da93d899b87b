"""Training options: the learned fusion's share of the fakes, the boundary head, fine-tuning from
a checkpoint, and model soups."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from moderation.config import Settings
from moderation.detector.boundary import BoundaryModel, boundary_loss
from moderation.detector.checkpoint import load_checkpoint, save_checkpoint, state_digest
from moderation.detector.registry import build_model
from moderation.errors import ConfigError
from moderation.synth.compose import _weights, find_node
from moderation.synth.pipeline import Pipeline
from moderation.training import train as training_loop
from moderation.training.data import SwapTrainingSet, widened_pipeline
from moderation.training.train import TrainConfig, _initial_weights, detector_config, train


@pytest.fixture(scope="module")
def small_index(lfw_subset):
    from moderation.training.faces_index import build_index

    return build_index(lfw_subset, Settings(), limit=8, seed=0)


def _fusion_shares(pipeline) -> dict[str, float]:
    fusions = find_node(pipeline, "fusion")
    return {child.name: float(w) for child, w in zip(fusions.children, _weights(fusions.children),
                                                     strict=True)}


# What widened_pipeline made when it edited the recipe by position (children[1], [3], [-1]),
# keyed "mode-round-learned share": finding the steps by name makes the same pipelines.
WIDENED = json.loads((Path(__file__).parent / "widened_pipelines.json").read_text())


@pytest.mark.parametrize("key", sorted(WIDENED))
def test_widening_by_name_makes_the_pipelines_widening_by_position_made(key):
    mode, round_index, share = key.split("-")
    assert widened_pipeline(mode, int(round_index), float(share)).to_dict() == WIDENED[key]


def test_the_default_recipe_has_no_learned_fusion():
    assert "learned" not in _fusion_shares(widened_pipeline("pair", 0))


@pytest.mark.parametrize("share", [0.2, 0.5])
def test_learned_fusion_takes_its_share_of_the_fakes(share):
    shares = _fusion_shares(widened_pipeline("pair", 1, learned_fusion=share))
    assert shares["learned"] == pytest.approx(share)
    assert sum(shares.values()) == pytest.approx(1.0)


def test_fakes_of_a_learned_fusion_run_record_it_in_their_recipe(small_index):
    config = detector_config(TrainConfig(index=Path("."), real_root=Path("."), out=Path(".")))
    dataset = SwapTrainingSet(small_index, np.arange(len(small_index)), config, 4, seed=0,
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


def test_boundary_maps_mark_the_blend_of_fakes_only_and_leave_the_images_unchanged(
        small_index):
    config = detector_config(TrainConfig(index=Path("."), real_root=Path("."), out=Path(".")))
    members = np.arange(len(small_index))
    plain = SwapTrainingSet(small_index, members, config, 4, seed=0)
    marked = SwapTrainingSet(small_index, members, config, 4, seed=0, with_boundary=True)
    for item in range(4):
        image, label = plain[item]
        same_image, same_label, boundary = marked[item]
        assert torch.equal(image, same_image) and label == same_label
        assert boundary.shape == (config.input_size // 4, config.input_size // 4)
        if label == 0:
            assert float(boundary.max()) == 0.0
        else:
            assert float(boundary.max()) > 0.3
            # the boundary rings the face: the crop's corners are far from it
            assert float(boundary[:4, :4].max()) < 0.05


class _Interrupted(Exception):
    """Stands for a run stopped between rounds (a killed process, a full disk)."""


def _same(a, b) -> bool:
    """Nested state dicts (tensors, numbers, lists) equal exactly."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    return a == b


@pytest.mark.slow
def test_a_training_run_with_the_boundary_head_saves_a_plain_classifier_and_resumes(
        small_index, lfw_subset, tmp_path, monkeypatch):
    """A two-round run stopped before its second round resumes from ``last.pt`` at that round,
    with the weights (the head's too), optimiser and schedule the first run had reached."""
    index_path = tmp_path / "index.npz"
    small_index.save(index_path)
    config = TrainConfig(index=index_path, real_root=lfw_subset, out=tmp_path / "run",
                         rounds=2, steps_per_round=2, batch=4, workers=0,
                         validation_samples=8, source_baseline_samples=0, boundary_weight=1.0)
    train_round = training_loop._train_round
    starts: list[tuple[int, dict]] = []  # each round's start: its index and the trainee's state
    stop_at = 1  # the first run stops as its second round begins

    def recorded(model, optimizer, schedule, dataset, config, device, history, round_index,
                 *rest):
        starts.append((round_index, copy.deepcopy({
            "weights": model.state_dict(), "optimizer": optimizer.state_dict(),
            "schedule": schedule.state_dict(), "history": history})))
        if stop_at == round_index:
            raise _Interrupted
        return train_round(model, optimizer, schedule, dataset, config, device, history,
                           round_index, *rest)

    monkeypatch.setattr(training_loop, "_train_round", recorded)
    with pytest.raises(_Interrupted):
        train(config)
    assert [r for r, _ in starts] == [0, 1]
    reached = starts[1][1]  # what the interrupted run had after its first round
    assert reached["schedule"]["last_epoch"] == 2 and reached["optimizer"]["state"]
    saved, state, extra = load_checkpoint(tmp_path / "run" / "round0.pt")
    build_model(saved.model, pretrained=False).load_state_dict(state)  # no head weights in it
    assert saved.training["boundary_weight"] == 1.0
    assert saved.weights == state_digest(state)  # the version derives from these weights
    # The run's pipelines lie beside its checkpoints, one per mode and round.
    for mode in ("pair", "self"):
        for round_index in range(2):
            path = tmp_path / "run" / "pipelines" / f"{mode}_round{round_index}.json"
            assert Pipeline.load(path).root.to_dict() == widened_pipeline(
                mode, round_index).to_dict()
    assert "boundary_head" in load_checkpoint(tmp_path / "run" / "last.pt")[2]
    (first,) = json.loads((tmp_path / "run" / "rounds.json").read_text())
    assert first["steps"] == 2 and np.isfinite(first["train_loss"])

    starts.clear()
    stop_at = None
    resumed = train(config)
    assert [r for r, _ in starts] == [1]  # the finished round is not trained again
    for part, value in reached.items():
        assert _same(starts[0][1][part], value), f"{part}: not what the first run had reached"
    assert [r.round for r in resumed] == [0, 1] and resumed[0].to_dict() == first
    assert resumed[1].steps == 4


def test_the_boundary_head_reads_stride_16_features():
    model = BoundaryModel(build_model("mobilenet_v2", pretrained=False), "mobilenet_v2", 160)
    logits, maps = model(torch.zeros(2, 3, 160, 160))
    assert logits.shape == (2, 2) and maps.shape == (2, 10, 10)
    # Against an all-zero target, binary cross-entropy on logits is softplus, averaged.
    assert boundary_loss(maps, torch.zeros(2, 40, 40)).item() == pytest.approx(
        torch.nn.functional.softplus(maps).mean().item(), rel=1e-5)
    # The 40x40 target is averaged down to the 10x10 prediction: one hot 4x4 block is one cell.
    target = torch.zeros(2, 40, 40)
    target[:, :4, :4] = 1.0
    expected = torch.nn.functional.softplus(maps) - maps * torch.nn.functional.pad(
        torch.ones(2, 1, 1), (0, 9, 0, 9))
    assert boundary_loss(maps, target).item() == pytest.approx(expected.mean().item(), rel=1e-5)


def test_a_soup_averages_the_weights_and_gets_its_own_threshold(small_index, lfw_subset,
                                                                 tmp_path, capsys):
    from moderation.training.soup import average_checkpoints, make_soup

    config = detector_config(TrainConfig(index=Path("."), real_root=Path("."), out=Path(".")))
    torch.manual_seed(0)
    states = [build_model("mobilenet_v2", pretrained=False).state_dict() for _ in range(2)]
    paths = [tmp_path / f"ingredient{i}.pt" for i in range(2)]
    for path, state in zip(paths, states, strict=True):
        save_checkpoint(path, config, state)
    _, averaged = average_checkpoints(paths)
    key = "features.0.0.weight"
    assert torch.allclose(averaged[key], (states[0][key] + states[1][key]) / 2)

    index_path = tmp_path / "index.npz"
    small_index.save(index_path)
    capsys.readouterr()
    result = make_soup(paths, index_path, lfw_subset, tmp_path / "soup.pt", workers=0,
                       validation_samples=8)
    shown = capsys.readouterr().err.replace("\r", "\n").splitlines()  # most of a soup's time
    assert any(line.startswith("calibrate: 100%") and "8/8" in line for line in shown), shown
    soup, state, _ = load_checkpoint(tmp_path / "soup.pt")
    assert soup.threshold == result.threshold and 0.5 <= soup.threshold <= 0.9999
    assert soup.training["soup_of"] == [str(p) for p in paths]
    assert torch.allclose(state[key], averaged[key])

    other = detector_config(TrainConfig(index=Path("."), real_root=Path("."), out=Path("."),
                                        input_size=224))
    save_checkpoint(tmp_path / "other.pt", other, states[0])
    with pytest.raises(ConfigError, match="other.pt"):
        average_checkpoints([paths[0], tmp_path / "other.pt"])
