"""Face crops to the tensor a detector takes: shared by training and inference, and free of
video and face-detection imports so that training runs where only PyTorch is installed."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from moderation.detector.checkpoint import DetectorConfig


def prepare(crops: list[np.ndarray], config: DetectorConfig) -> torch.Tensor:
    """BGR crops of any size to the normalised RGB batch the model was trained on."""
    size = config.input_size
    mean = np.float32(config.mean) * 255.0
    scale = 1.0 / (np.float32(config.std) * 255.0)
    batch = np.empty((len(crops), size, size, 3), np.float32)
    for index, crop in enumerate(crops):
        if crop.shape[:2] != (size, size):
            shrink = crop.shape[0] > size
            crop = cv2.resize(crop, (size, size),
                              interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        batch[index] = (cv2.cvtColor(crop, cv2.COLOR_BGR2RGB) - mean) * scale
    return torch.from_numpy(batch).permute(0, 3, 1, 2).contiguous(
        memory_format=torch.channels_last)
