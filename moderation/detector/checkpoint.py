"""A checkpoint carries its config: the preprocessing, the crop geometry, the operating
threshold, the recipe version of the fakes it was trained on and the metrics it reached, so that
inference rebuilds everything from the file and never retypes it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from moderation.errors import ConfigError
from moderation.faces.crops import CropGeometry
from moderation.weights import load_weights

FORMAT_VERSION = 1


@dataclass
class DetectorConfig:
    model: str
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    crop: CropGeometry
    threshold: float = 0.5
    recipe_version: int = 1
    metrics: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["crop"] = self.crop.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DetectorConfig:
        data = dict(data)
        data["crop"] = CropGeometry.from_dict(data["crop"])
        data["mean"], data["std"] = tuple(data["mean"]), tuple(data["std"])
        return cls(**data)

    @property
    def version(self) -> str:
        """A short name for the detector version, recorded with every verdict."""
        digest = hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode())
        return f"{self.model}-{digest.hexdigest()[:8]}"


def save_checkpoint(path: Path, config: DetectorConfig, state_dict: dict,
                    extra: dict | None = None) -> None:
    """Write atomically; ``extra`` (optimizer state, step) is for resuming, not for inference."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    torch.save({"format": FORMAT_VERSION, "config": config.to_dict(), "state_dict": state_dict,
                **(extra or {})}, partial)
    partial.replace(path)


def load_checkpoint(path: Path) -> tuple[DetectorConfig, dict, dict]:
    """(config, model state, everything else); a clear error for a missing or foreign file."""
    path = Path(path)
    data = load_weights(path, "detector checkpoint")
    if not isinstance(data, dict) or data.get("format") != FORMAT_VERSION:
        raise ConfigError(f"{path} is not a detector checkpoint of format {FORMAT_VERSION}")
    config = DetectorConfig.from_dict(data.pop("config"))
    state = data.pop("state_dict")
    return config, state, data
