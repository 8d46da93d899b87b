"""The default recipes: which operations run, with which probabilities and ranges.

A pipeline is data (``to_dict``/``node_from_dict``), so a wider recipe for a later training round
is a JSON file, not a code change.
"""

from __future__ import annotations

from moderation.synth.compose import OneOf, Sequential, SomeOf
from moderation.synth.ops import colour, degrade, fusion, geometry, mask, occlusion

MODES = ("pair", "self")


def degradations() -> SomeOf:
    """Any non-empty subset of up to three traits of generated faces, applied in order."""
    return SomeOf(
        [
            degrade.GaussianBlur(p=1.0),
            degrade.BoxBlur(p=0.5),
            degrade.DualKawaseBlur(p=0.5),
            degrade.BokehBlur(p=0.5),
            degrade.TiltShiftBlur(p=0.5),
            degrade.Resample(p=1.0),
            degrade.Jpeg(p=1.0),
            degrade.Webp(p=0.5),
            degrade.GaussianNoise(p=1.0),
            degrade.PoissonNoise(p=0.5),
            degrade.SaltAndPepper(p=0.3),
        ],
        n=(1, 3),
    )


def mask_steps() -> Sequential:
    return Sequential([
        mask.LandmarkJitter(p=0.5),
        mask.GrowShrink(p=0.5),
        mask.Hull(),
        OneOf([mask.Elastic(p=0.7), mask.PiecewiseAffine(p=0.3)], p=0.7),
        mask.Morphology(p=0.5),
        mask.SoftEdges(p=0.9),
    ])


def fusions() -> OneOf:
    return OneOf([
        fusion.Alpha(p=1.0),
        fusion.Poisson(p=1.0),
        fusion.LaplacianPyramid(p=1.0),
        fusion.Wavelet(p=1.0),
    ])


def default_pipeline(mode: str = "pair") -> Sequential:
    """The full random recipe of the method for two different people (``pair``) or one photo
    blended with a processed copy of itself (``self``)."""
    if mode == "self":
        align = geometry.Align(scale=(0.95, 1.05), angle=(-3.0, 3.0), shift=(-0.03, 0.03))
        colours = OneOf([colour.ColourJitter(p=1.0), colour.Linear(p=0.25), colour.Lab(p=0.25),
                         colour.HistogramMatching(p=0.25), colour.PdfTransfer(p=0.25)])
    else:
        align = geometry.Align()
        colours = OneOf([colour.Linear(p=1.0), colour.Lab(p=1.0),
                         colour.HistogramMatching(p=1.0), colour.PdfTransfer(p=1.0)])
    return Sequential([align, degradations(), colours, mask_steps(), occlusion.Subtract(),
                       fusions()])
