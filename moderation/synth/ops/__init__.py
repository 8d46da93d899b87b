"""The generator's operations, one module per step; importing this package registers them all."""

from moderation.synth.ops import colour, degrade, fusion, geometry, mask, occlusion  # noqa: F401
