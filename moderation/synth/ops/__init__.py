"""The generator's built-in operations, one module per step; importing this package registers them
all (``moderation.synth`` does, on its first import)."""

from moderation.synth.ops import colour, degrade, fusion, geometry, mask, occlusion  # noqa: F401
