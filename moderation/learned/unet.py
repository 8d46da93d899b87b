"""A compact U-Net and the checkpoint format shared by the learned models.

A checkpoint is one ``torch.save`` dict: ``config`` (architecture, input size, normalisation,
training summary) and ``state`` (float16 weights, to keep the committed files small). The
preprocessing a model needs is rebuilt from ``config``, never retyped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from moderation.weights import load_weights


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True),
    )


class UNet(nn.Module):
    """``len(widths)`` levels; each level halves the resolution and uses ``widths[i]`` channels."""

    def __init__(self, in_channels: int, out_channels: int,
                 widths: tuple[int, ...] = (16, 32, 64, 128)):
        super().__init__()
        self.down = nn.ModuleList()
        cin = in_channels
        for width in widths:
            self.down.append(_block(cin, width))
            cin = width
        self.up = nn.ModuleList()
        self.merge = nn.ModuleList()
        for width in reversed(widths[:-1]):
            self.up.append(nn.ConvTranspose2d(cin, width, 2, stride=2))
            self.merge.append(_block(2 * width, width))
            cin = width
        self.head = nn.Conv2d(cin, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.down):
            if i:
                x = nn.functional.max_pool2d(x, 2)
            x = block(x)
            skips.append(x)
        for up, merge, skip in zip(self.up, self.merge, reversed(skips[:-1]), strict=True):
            x = merge(torch.cat([up(x), skip], dim=1))
        return self.head(x)


def build(config: dict[str, Any]) -> UNet:
    return UNet(config["in_channels"], config["out_channels"], tuple(config["widths"]))


def save_checkpoint(model: UNet, config: dict[str, Any], path: str | Path) -> None:
    state = {k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    torch.save({"config": config, "state": state}, path)


def load_checkpoint(path: str | Path) -> tuple[UNet, dict[str, Any]]:
    data = load_weights(path, "U-Net checkpoint")
    model = build(data["config"])
    model.load_state_dict({k: v.float() if v.is_floating_point() else v
                           for k, v in data["state"].items()})
    return model.eval(), data["config"]


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
