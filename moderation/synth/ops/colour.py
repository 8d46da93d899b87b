"""Step ``colour``: move B's colour distribution onto A, measured on the face regions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from moderation.synth.functional import colour as F
from moderation.synth.functional.mask import hull_mask
from moderation.synth.ops._sampling import integer, seed, uniform
from moderation.synth.registry import Op, check_range
from moderation.synth.state import SwapState


def face_regions(state: SwapState) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks of the landmark hulls of A and B: where colour statistics are measured."""
    return (hull_mask(state.source_landmarks, state.size) > 0,
            hull_mask(state.target_landmarks, state.size) > 0)


@dataclass(kw_only=True)
class TransferOp(Op):
    step = "colour"

    def apply(self, state, **params):
        source_region, target_region = face_regions(state)
        moved = self.transfer(state.source, state.target, source_region, target_region, **params)
        return state.replace(source=moved)

    def transfer(self, source, target, source_region, target_region, **params):
        raise NotImplementedError


@dataclass(kw_only=True)
class Linear(TransferOp):
    name = "linear"

    def transfer(self, source, target, source_region, target_region):
        return F.linear(source, target, source_region, target_region)


@dataclass(kw_only=True)
class Lab(TransferOp):
    name = "lab"

    def transfer(self, source, target, source_region, target_region):
        return F.lab(source, target, source_region, target_region)


@dataclass(kw_only=True)
class HistogramMatching(TransferOp):
    name = "histogram_matching"

    def transfer(self, source, target, source_region, target_region):
        return F.histogram_matching(source, target, source_region, target_region)


@dataclass(kw_only=True)
class PdfTransfer(TransferOp):
    """Iterative distribution transfer (Pitié et al.): the probability-density-based method."""

    name = "pdf_transfer"
    iterations: tuple[int, int] = (3, 6)

    def validate(self):
        check_range(self, "iterations", self.iterations, 1, 50)

    def sample(self, rng, state):
        return {"iterations": integer(rng, self.iterations), "seed": seed(rng)}

    def transfer(self, source, target, source_region, target_region, iterations, seed):
        return F.iterative_distribution_transfer(
            source, target, source_region, target_region, iterations=iterations, seed=seed
        )


@dataclass(kw_only=True)
class ColourJitter(Op):
    """Random brightness, contrast, hue, saturation and channel shifts of A (self-blend mode).

    A self-blended fake has no second person's colours to borrow, so the mismatch is drawn.
    """

    step = "colour"
    name = "colour_jitter"
    brightness: tuple[float, float] = (-20.0, 20.0)
    contrast: tuple[float, float] = (0.85, 1.15)
    hue: tuple[float, float] = (-5.0, 5.0)
    saturation: tuple[float, float] = (0.8, 1.2)
    channel_shift: tuple[float, float] = (-12.0, 12.0)

    def validate(self):
        check_range(self, "brightness", self.brightness, -128.0, 128.0)
        check_range(self, "contrast", self.contrast, 0.1, 3.0)
        check_range(self, "hue", self.hue, -90.0, 90.0)
        check_range(self, "saturation", self.saturation, 0.0, 3.0)
        check_range(self, "channel_shift", self.channel_shift, -128.0, 128.0)

    def sample(self, rng, state):
        return {
            "brightness": uniform(rng, self.brightness),
            "contrast": uniform(rng, self.contrast),
            "hue": uniform(rng, self.hue),
            "saturation": uniform(rng, self.saturation),
            "channel_shift": [uniform(rng, self.channel_shift) for _ in range(3)],
        }

    def apply(self, state, brightness, contrast, hue, saturation, channel_shift):
        return state.replace(source=F.colour_jitter(
            state.source, brightness, contrast, hue, saturation, tuple(channel_shift)
        ))
