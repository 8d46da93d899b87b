"""An auxiliary training head that predicts where a face was blended (Face X-ray's boundary map).

The two-class loss alone lets a network pick any cue that separates the classes; asking it also
to point at the blending boundary ties its features to the one trace every swap leaves. The head
reads the backbone's stride-16 features and exists only during training: checkpoints hold the
classifier alone, so the worker's model and its speed do not change.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from torch import nn

from moderation.detector.registry import SwapClassifier, model_spec
from moderation.errors import ConfigError
from moderation.synth.functional.mask import boundary

TARGET_STRIDE = 4  # the dataset's target map is the crop at a quarter of its side


class BoundaryModel(nn.Module):
    """``forward`` returns (class logits, boundary logits at stride 16)."""

    def __init__(self, classifier: SwapClassifier, model_name: str, input_size: int):
        super().__init__()
        layer = model_spec(model_name).boundary_layer
        modules = dict(classifier.features.named_modules())
        if layer not in modules:
            raise ConfigError(f"model {model_name!r} names no stride-16 layer for a boundary head")
        self.classifier = classifier
        self._features: torch.Tensor | None = None
        modules[layer].register_forward_hook(self._keep)
        with torch.no_grad():
            was_training = classifier.training
            classifier.eval()
            classifier(torch.zeros(1, 3, input_size, input_size))
            classifier.train(was_training)
        channels = self._features.shape[1]
        self.head = nn.Sequential(nn.Conv2d(channels, 64, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(64), nn.ReLU(inplace=True), nn.Conv2d(64, 1, 1))

    def _keep(self, _module, _inputs, output: torch.Tensor) -> None:
        self._features = output

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.classifier(images)
        maps = self.head(self._features)[:, 0]
        self._features = None
        return logits, maps


def boundary_loss(maps: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy against the target maps averaged down to the prediction's size."""
    pooled = nn.functional.adaptive_avg_pool2d(targets[:, None].float(), maps.shape[-2:])[:, 0]
    return nn.functional.binary_cross_entropy_with_logits(maps.float(), pooled)


def boundary_target(mask_crop: np.ndarray | None, size: int) -> np.ndarray:
    """The boundary map of a cropped blending mask at ``size / TARGET_STRIDE`` (zeros for a
    real face). The mask is blurred first, so a hard-edged blend has a boundary too."""
    side = size // TARGET_STRIDE
    if mask_crop is None:
        return np.zeros((side, side), np.float32)
    soft = cv2.GaussianBlur(mask_crop.astype(np.float32), (0, 0), sigmaX=size / 64)
    return cv2.resize(boundary(soft), (side, side), interpolation=cv2.INTER_AREA)
