"""The fake generator: operations, their composition, recipes, and folders of fakes.

Importing the package registers the built-in operations (``ops/``), so that any module of it can
look an operation up by name; plug-ins that need torch are imported by name (``registry.PLUGINS``).
"""

from moderation.synth import ops  # noqa: F401
