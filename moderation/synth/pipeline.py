"""The default recipes: which operations run, with which probabilities and ranges, and the
pipeline file that holds one.

A pipeline is data: ``Pipeline(root).save(path)`` writes a JSON file with a format version and
``Pipeline.load(path)`` reads it back, so a wider recipe for a later training round is a file,
not a code change (``moderation synth --save-pipeline FILE``, then ``--pipeline FILE``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moderation import __version__
from moderation.errors import ConfigError
from moderation.synth.compose import OneOf, Sequential, SomeOf, find_node, node_from_dict
from moderation.synth.ops import colour, degrade, fusion, geometry, mask, occlusion

MODES = ("pair", "self")
PIPELINE_FORMAT = "moderation.synth.pipeline"
PIPELINE_VERSION = 1


@dataclass
class Pipeline:
    """A whole pipeline as a file: the tree of operations (``root``) and its format version.

    ``FakeGenerator`` takes a ``Pipeline`` or a bare tree alike; the file is what travels (saved
    beside a training run's checkpoints, passed to ``moderation synth --pipeline``).
    """

    root: Any

    def find(self, name: str):
        """The node called ``name`` (a composition's name, an operation's key or a step)."""
        return find_node(self.root, name)

    def to_dict(self) -> dict[str, Any]:
        return {"format": PIPELINE_FORMAT, "version": PIPELINE_VERSION, "library": __version__,
                "root": self.root.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Pipeline:
        if not isinstance(data, dict) or data.get("format") != PIPELINE_FORMAT:
            raise ConfigError(f"not a pipeline: expected a JSON object with \"format\": "
                              f"{PIPELINE_FORMAT!r}")
        if data.get("version") != PIPELINE_VERSION:
            raise ConfigError(f"pipeline version {data.get('version')!r} is not supported "
                              f"(expected {PIPELINE_VERSION})")
        if not isinstance(data.get("root"), dict):
            raise ConfigError("malformed pipeline: \"root\" must be an operation or a "
                              "composition")
        try:
            return cls(node_from_dict(data["root"]))
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"malformed pipeline: {exc}") from None

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    def save(self, path: str | Path) -> Path:
        """Write the pipeline to ``path`` (JSON), atomically; returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.write_text(self.to_json())
        partial.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Pipeline:
        """Read a pipeline file; an unreadable or malformed one is a ``ConfigError`` naming it."""
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except OSError as exc:
            raise ConfigError(f"{path}: cannot be read ({exc.strerror or exc})") from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}: not JSON ({exc})") from None
        try:
            return cls.from_dict(data)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None


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
