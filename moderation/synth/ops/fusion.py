"""Step ``fusion``: blend the prepared face A into B with the final mask."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from moderation.synth.functional import fusion as F
from moderation.synth.functional.geometry import support_box
from moderation.synth.ops._sampling import check_choices, choice, integer
from moderation.synth.registry import Op, check_range


@dataclass(kw_only=True)
class FusionOp(Op):
    """Fuses inside the mask's bounding box (plus a margin for the filters' reach) only.

    Outside the mask the fake is B by definition, so the work outside the box was wasted.
    """

    step = "fusion"
    margin = 24  # reach of the coarsest pyramid and wavelet levels

    def apply(self, state, **params):
        mask = state.mask.astype(np.float32)
        fake = state.target.copy()
        box = support_box(mask > 0, pad=self.margin)
        if box is not None:
            fake[box] = self.fuse(state.source[box], state.target[box], mask[box], **params)
        return state.replace(fake=fake)

    def fuse(self, source, target, mask, **params):
        raise NotImplementedError


@dataclass(kw_only=True)
class Alpha(FusionOp):
    name = "alpha"

    def fuse(self, source, target, mask):
        return F.alpha(source, target, mask)


@dataclass(kw_only=True)
class Poisson(FusionOp):
    """Gradient-domain fusion; ``modes`` picks normal (source gradients) or mixed gradients."""

    name = "poisson"
    margin = 8  # the solver only needs B's values on a border just outside the support
    modes: tuple[str, ...] = ("normal", "mixed")

    def validate(self):
        check_choices(self, "modes", self.modes, ("normal", "mixed"))

    def sample(self, rng, state):
        return {"mode": choice(rng, self.modes)}

    def fuse(self, source, target, mask, mode):
        return F.poisson(source, target, mask, mixed=mode == "mixed")


@dataclass(kw_only=True)
class LaplacianPyramid(FusionOp):
    name = "laplacian_pyramid"
    levels: tuple[int, int] = (3, 5)

    def validate(self):
        check_range(self, "levels", self.levels, 1, 8)

    def sample(self, rng, state):
        return {"levels": integer(rng, self.levels)}

    def fuse(self, source, target, mask, levels):
        return F.laplacian_pyramid(source, target, mask, levels)


@dataclass(kw_only=True)
class Wavelet(FusionOp):
    name = "wavelet"
    wavelets: tuple[str, ...] = ("haar", "db2", "sym4", "bior2.2")
    level: tuple[int, int] = (2, 4)

    def validate(self):
        import pywt

        check_choices(self, "wavelets", self.wavelets, pywt.wavelist(kind="discrete"))
        check_range(self, "level", self.level, 1, 6)

    def sample(self, rng, state):
        return {"wavelet": choice(rng, self.wavelets), "level": integer(rng, self.level)}

    def fuse(self, source, target, mask, wavelet, level):
        return F.wavelet(source, target, mask, wavelet, level)
