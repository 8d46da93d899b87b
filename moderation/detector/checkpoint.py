"""A checkpoint carries its config: the preprocessing, the crop geometry, the operating
threshold, the recipe version of the fakes it was trained on, the metrics it reached and the
digest of its weights, so that inference rebuilds everything from the file and never retypes it.

The detector's version (recorded with every verdict; scans are keyed by it) names what decides
the scores: the weights and the preprocessing. Metrics, training notes and the threshold do not
change a score, so they do not change the version.

torch is imported by the functions that save, load and digest tensors only: :func:`read_config`
reads a checkpoint's config without it (the API's readiness check and score charts need no
model)."""

from __future__ import annotations

import collections
import hashlib
import io
import json
import pickle
import zipfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from moderation.errors import ConfigError, ModelWeightsMissing
from moderation.faces.crops import CropGeometry
from moderation.weights import load_weights

FORMAT_VERSION = 1
# The shipped detector, used when the settings name no checkpoint.
DEFAULT_CHECKPOINT = Path(__file__).parent / "weights" / "swap_detector.pt"


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
    # "sha256:" and the hex SHA-256 of the tensors (``state_digest``); set by ``load_checkpoint``
    # and written by ``save_checkpoint``, None for a config not yet tied to weights.
    weights: str | None = None

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

    def preprocessing(self) -> dict[str, Any]:
        """What turns a face into the model's input: with the weights, all that sets a score."""
        return {"model": self.model, "input_size": self.input_size, "mean": list(self.mean),
                "std": list(self.std), "crop": self.crop.to_dict()}

    @property
    def version(self) -> str:
        """A short name for the detector version, recorded with every verdict: the model's
        name and a digest of the weights and the preprocessing (never of the metrics)."""
        if self.weights is None:
            raise ConfigError("this detector config is not tied to weights (no digest): its "
                              "version comes from load_checkpoint or save_checkpoint")
        identity = {"weights": self.weights, "preprocessing": self.preprocessing()}
        digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode())
        return f"{self.model}-{digest.hexdigest()[:8]}"


def state_digest(state_dict: dict) -> str:
    """``"sha256:"`` and the hex SHA-256 of a state dict's tensors: each name, dtype, shape and
    the values' bytes in a standard layout, in name order. Independent of how the file was
    written (pickle protocol, zip layout, the config beside the tensors), of the device and of
    the memory format."""
    import torch

    digest = hashlib.sha256()
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().cpu().contiguous()
        digest.update(json.dumps([name, str(tensor.dtype), list(tensor.shape)]).encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return f"sha256:{digest.hexdigest()}"


def save_checkpoint(path: Path, config: DetectorConfig, state_dict: dict,
                    extra: dict | None = None) -> None:
    """Write atomically; ``extra`` (optimizer state, step) is for resuming, not for inference.
    The config written records the digest of ``state_dict`` (``config`` is not changed)."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    written = replace(config, weights=state_digest(state_dict)).to_dict()
    torch.save({"format": FORMAT_VERSION, "config": written, "state_dict": state_dict,
                **(extra or {})}, partial)
    partial.replace(path)


def load_checkpoint(path: Path) -> tuple[DetectorConfig, dict, dict]:
    """(config, model state, everything else); a clear error for a missing or foreign file.

    The config's ``weights`` is the digest of the tensors read; a file whose config recorded
    another one (its tensors replaced without its config) is refused, naming both."""
    path = Path(path)
    data = load_weights(path, "detector checkpoint")
    if not isinstance(data, dict) or data.get("format") != FORMAT_VERSION:
        raise ConfigError(f"{path} is not a detector checkpoint of format {FORMAT_VERSION}")
    config = DetectorConfig.from_dict(data.pop("config"))
    state = data.pop("state_dict")
    found = state_digest(state)
    if config.weights is not None and config.weights != found:
        raise ConfigError(f"{path}: its config records weights {config.weights}, its tensors "
                          f"are {found}")
    config.weights = found
    return config, state, data


def read_config(path: Path) -> DetectorConfig:
    """The config of the checkpoint at ``path`` without torch and without reading its tensors:
    only the archive's pickle is read, by an unpickler that builds nothing but plain data
    (tensors become ``None``). The same errors as :func:`load_checkpoint` for a missing, damaged
    or foreign file; a checkpoint in torch's legacy (non-zip) format is refused too."""
    path = Path(path)
    if not path.is_file():
        raise ModelWeightsMissing(f"detector checkpoint {path} does not exist")
    try:
        with zipfile.ZipFile(path) as archive:
            # torch.save writes <name>/data.pkl beside <name>/data/<storage key> files.
            pickles = [name for name in archive.namelist()
                       if name.endswith("/data.pkl") and name.count("/") == 1]
            if len(pickles) != 1:
                raise ValueError("no data.pkl at the top of the archive")
            data = _ConfigUnpickler(io.BytesIO(archive.read(pickles[0]))).load()
    except Exception as exc:  # zipfile and pickle raise many kinds for a damaged file
        raise ModelWeightsMissing(f"{path} is not a readable detector checkpoint ({exc})") \
            from None
    if not isinstance(data, dict) or data.get("format") != FORMAT_VERSION \
            or not isinstance(data.get("state_dict"), dict):
        raise ConfigError(f"{path} is not a detector checkpoint of format {FORMAT_VERSION}")
    try:
        return DetectorConfig.from_dict(data["config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{path} has an unreadable detector config ({exc})") from None


def _unread(*_args, **_kwargs) -> None:
    """Stands for torch's tensor builders, storage types and dtypes: nothing is built."""
    return None


class _ConfigUnpickler(pickle.Unpickler):
    """Unpickles a torch checkpoint's data.pkl into plain data: the state dict's ordered dicts
    are built, anything from torch is :func:`_unread`, every other class is refused (so no code
    a file names runs, as with ``torch.load(weights_only=True)``)."""

    def find_class(self, module: str, name: str):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if module == "torch" or module.startswith("torch."):
            return _unread
        raise pickle.UnpicklingError(f"{module}.{name} has no place in a checkpoint")

    def persistent_load(self, pid):
        return None  # a tensor's storage, left unread in the archive
