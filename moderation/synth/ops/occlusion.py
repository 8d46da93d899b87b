"""Step ``occlusion``: remove from the mask what covers face B (hands, hair, glasses)."""

from __future__ import annotations

from dataclasses import dataclass

from moderation.synth.functional import mask as F
from moderation.synth.ops._sampling import integer
from moderation.synth.registry import Op, check_range


@dataclass(kw_only=True)
class Subtract(Op):
    """``mask = clip(mask - occlusion, 0, 1)``; the occlusion map is grown by ``dilate`` px first.

    Without an occlusion map (none given and no segmenter configured) the mask is unchanged.
    """

    step = "occlusion"
    name = "subtract"
    dilate: tuple[int, int] = (0, 4)

    def validate(self):
        check_range(self, "dilate", self.dilate, 0, 32)

    def sample(self, rng, state):
        return {"dilate": integer(rng, self.dilate)}

    def apply(self, state, dilate):
        if state.occlusion is None:
            return state
        occlusion = state.occlusion
        if dilate:
            occlusion = F.morphology(occlusion, "dilate", 2 * dilate + 1)
        return state.replace(mask=F.subtract(state.mask, occlusion))
