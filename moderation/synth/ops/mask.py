"""Step ``mask``: build A's face mask from its 68 landmarks and deform it at random.

Order in the default pipeline: landmark operations (jitter, grow/shrink), then ``hull`` which
draws the mask, then operations on the mask (elastic or piecewise-affine warp, morphology, soft
edges). A precomputed mask given to the generator replaces the hull.
"""

from __future__ import annotations

from dataclasses import dataclass

from moderation.errors import ConfigError
from moderation.synth.functional import mask as F
from moderation.synth.ops._sampling import (
    check_choices,
    check_odd,
    choice,
    integer,
    odd,
    seed,
    uniform,
)
from moderation.synth.registry import Op, check_range


@dataclass(kw_only=True)
class LandmarkJitter(Op):
    step = "mask"
    name = "landmark_jitter"
    sigma: tuple[float, float] = (0.5, 2.5)

    def validate(self):
        check_range(self, "sigma", self.sigma, 0.0, 20.0)

    def sample(self, rng, state):
        return {"sigma": uniform(rng, self.sigma), "seed": seed(rng)}

    def apply(self, state, sigma, seed):
        return state.replace(source_landmarks=F.jitter_landmarks(state.source_landmarks, sigma,
                                                                 seed))


@dataclass(kw_only=True)
class GrowShrink(Op):
    """Scale the outline about its centre, independently in x and y."""

    step = "mask"
    name = "grow_shrink"
    scale: tuple[float, float] = (0.9, 1.08)

    def validate(self):
        check_range(self, "scale", self.scale, 0.5, 1.5)

    def sample(self, rng, state):
        return {"scale_x": uniform(rng, self.scale), "scale_y": uniform(rng, self.scale)}

    def apply(self, state, scale_x, scale_y):
        return state.replace(
            source_landmarks=F.scale_landmarks(state.source_landmarks, scale_x, scale_y)
        )


@dataclass(kw_only=True)
class Hull(Op):
    """The convex hull of the 68 landmarks, or the precomputed mask when one was given."""

    step = "mask"
    name = "hull"

    def apply(self, state):
        if state.given_mask is not None:
            return state.replace(mask=state.given_mask)
        return state.replace(mask=F.hull_mask(state.source_landmarks, state.size))


@dataclass(kw_only=True)
class MaskOp(Op):
    """An operation on the drawn mask."""

    step = "mask"

    def apply(self, state, **params):
        if state.mask is None:
            raise ConfigError(f"{self.key()} runs before mask/hull: put the hull first")
        return state.replace(mask=self.kernel(state.mask, **params))

    def kernel(self, mask, **params):
        raise NotImplementedError


@dataclass(kw_only=True)
class Elastic(MaskOp):
    name = "elastic"
    magnitude: tuple[float, float] = (0.01, 0.04)
    grid: tuple[int, int] = (3, 6)

    def validate(self):
        check_range(self, "magnitude", self.magnitude, 0.0, 0.2)
        check_range(self, "grid", self.grid, 2, 32)

    def sample(self, rng, state):
        return {"magnitude": uniform(rng, self.magnitude) * state.size[0],
                "grid": integer(rng, self.grid), "seed": seed(rng)}

    def kernel(self, mask, magnitude, grid, seed):
        return F.elastic(mask, magnitude, grid, seed)


@dataclass(kw_only=True)
class PiecewiseAffine(MaskOp):
    name = "piecewise_affine"
    magnitude: tuple[float, float] = (0.01, 0.03)
    grid: tuple[int, int] = (3, 6)

    def validate(self):
        check_range(self, "magnitude", self.magnitude, 0.0, 0.1)
        check_range(self, "grid", self.grid, 3, 12)

    def sample(self, rng, state):
        return {"magnitude": uniform(rng, self.magnitude), "grid": integer(rng, self.grid),
                "seed": seed(rng)}

    def kernel(self, mask, magnitude, grid, seed):
        return F.piecewise_affine(mask, magnitude, grid, seed)


@dataclass(kw_only=True)
class Morphology(MaskOp):
    name = "morphology"
    operations: tuple[str, ...] = ("erode", "dilate")
    kernel_size: tuple[int, int] = (3, 15)

    def validate(self):
        check_choices(self, "operations", self.operations, ("erode", "dilate"))
        check_range(self, "kernel_size", self.kernel_size, 1, 63)

    def sample(self, rng, state):
        return {"operation": choice(rng, self.operations), "kernel": integer(rng, self.kernel_size)}

    def kernel(self, mask, operation, kernel):
        return F.morphology(mask, operation, kernel)


@dataclass(kw_only=True)
class SoftEdges(MaskOp):
    name = "soft_edges"
    kernel_size: tuple[int, int] = (5, 31)

    def validate(self):
        check_range(self, "kernel_size", self.kernel_size, 1, 101)
        check_odd(self, "kernel_size", self.kernel_size)

    def sample(self, rng, state):
        return {"kernel": odd(rng, self.kernel_size)}

    def kernel(self, mask, kernel):
        return F.soften(mask, kernel)
