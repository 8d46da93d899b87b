"""A "model soup": the weights of detectors fine-tuned from one checkpoint, averaged.

Fine-tunes of one starting point stay in one basin of the loss, so their average is a model
too, and it is often steadier away from the training data than any one of them (Wortsman et
al., 2022). Averaging costs no inference time, unlike an ensemble. The soup gets its own
operating threshold and metrics the same way a training round does.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch

from moderation.detector.checkpoint import DetectorConfig, load_checkpoint, save_checkpoint
from moderation.detector.registry import build_model
from moderation.errors import ConfigError
from moderation.training.faces_index import FaceIndex
from moderation.training.train import RoundResult, TrainConfig, _dev_metrics, calibrate_model


def average_checkpoints(paths: list[Path]) -> tuple[list[DetectorConfig], dict]:
    """Each checkpoint's config and the mean of all their weights. Integer buffers (batch
    norms' counters) are taken from the first."""
    if len(paths) < 2:
        raise ConfigError("a soup needs at least two checkpoints")
    loaded = [load_checkpoint(path)[:2] for path in paths]
    config, first = loaded[0]
    for path, (other, state) in zip(paths[1:], loaded[1:], strict=True):
        if (other.model, other.input_size, other.crop) != (config.model, config.input_size,
                                                           config.crop):
            raise ConfigError(f"{path}: model, input size or crop differ from {paths[0]}")
        if state.keys() != first.keys():
            raise ConfigError(f"{path}: its weights do not match {paths[0]}'s layers")
    averaged = {}
    for key, tensor in first.items():
        if tensor.is_floating_point():
            averaged[key] = torch.stack([state[key].float() for _, state in loaded]).mean(0)
        else:
            averaged[key] = tensor.clone()
    return [config for config, _ in loaded], averaged


def make_soup(paths: list[Path], index_path: Path, real_root: Path, out: Path,
              devset: Path | None = None, workers: int = 2,
              validation_samples: int = 512) -> RoundResult:
    """Average ``paths``, set the soup's threshold on held-out real faces, measure it on the
    evaluation cache and save it to ``out`` as a detector checkpoint."""
    ingredients, state = average_checkpoints(paths)
    config = replace(ingredients[0], metrics={}, training={})
    model = build_model(config.model, pretrained=False)
    model.load_state_dict(state)
    settings = TrainConfig(index=index_path, real_root=real_root, out=out.parent,
                           model=config.model, input_size=config.input_size,
                           margin=config.crop.margin, workers=workers,
                           validation_samples=validation_samples)
    index = FaceIndex.load(index_path, real_root)
    _, validation_members = index.split(settings.validation_share)
    calibration, synthetic_auc = calibrate_model(model, index, validation_members, config,
                                                 settings, "cpu", clips=[])
    config.threshold = calibration.threshold
    result = RoundResult(round=0, steps=0, train_loss=float("nan"),
                         synthetic_auc=synthetic_auc, threshold=config.threshold,
                         calibration=calibration.to_dict())
    if devset is not None:
        result.dev = _dev_metrics(model, config, devset, "cpu", out.parent / f"{out.stem}_dev")
    config.metrics = {"soup": result.to_dict(),
                      "ingredients": [ingredient.metrics for ingredient in ingredients]}
    config.training = {"soup_of": [str(path) for path in paths],
                       "ingredients": [ingredient.training for ingredient in ingredients],
                       "initialised_from": _versions(ingredients)}
    save_checkpoint(out, config, state)
    return result


def _versions(ingredients: list[DetectorConfig]) -> dict[str, str | None]:
    """The version of each checkpoint the ingredients were fine-tuned from, read now: the file
    may be replaced later (by this soup, when it ships)."""
    versions = {}
    for ingredient in ingredients:
        init = ingredient.training.get("init")
        if init and init not in versions:
            found = Path(init).is_file()
            versions[init] = load_checkpoint(Path(init))[0].version if found else None
    return versions
