"""Face-swap moderation: a synthetic fake generator, a detector trained on it, and the worker."""

__version__ = "0.1.0"
