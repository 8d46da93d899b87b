"""Step ``geometry``: put face A where face B is."""

from __future__ import annotations

from dataclasses import dataclass

from moderation.synth.functional import geometry as F
from moderation.synth.ops._sampling import uniform
from moderation.synth.registry import Op, check_range


@dataclass(kw_only=True)
class Align(Op):
    """Similarity from A's landmarks to B's, plus a small random scale, rotation and shift.

    The jitter leaves a slight misregistration, as a real swap does; in self-blend mode it is the
    main geometric difference between the two copies of the photo.
    """

    step = "geometry"
    name = "align"
    scale: tuple[float, float] = (0.98, 1.02)
    angle: tuple[float, float] = (-2.0, 2.0)
    shift: tuple[float, float] = (-0.01, 0.01)

    def validate(self):
        check_range(self, "scale", self.scale, 0.5, 2.0)
        check_range(self, "angle", self.angle, -45.0, 45.0)
        check_range(self, "shift", self.shift, -0.25, 0.25)

    def sample(self, rng, state):
        height, width = state.size
        return {
            "scale": uniform(rng, self.scale),
            "angle": uniform(rng, self.angle),
            "dx": uniform(rng, self.shift) * width,
            "dy": uniform(rng, self.shift) * height,
        }

    def apply(self, state, scale, angle, dx, dy):
        matrix = F.compose(
            F.jitter_matrix(state.size, scale, angle, dx, dy),
            F.similarity(state.source_landmarks, state.target_landmarks),
        )
        given_mask = state.given_mask
        if given_mask is not None:  # a given mask outlines A's face, so it moves with A
            given_mask = F.warp_map(given_mask, matrix)
        return state.replace(
            source=F.warp_image(state.source, matrix),
            source_landmarks=F.warp_points(state.source_landmarks, matrix),
            given_mask=given_mask,
        )
