"""The swap detector: model registry, checkpoints with their config, inference."""
