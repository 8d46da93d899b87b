"""Small helpers that draw JSON-native parameters from a generator."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from moderation.errors import ConfigError


def uniform(rng: np.random.Generator, bounds: Sequence[float]) -> float:
    return float(rng.uniform(bounds[0], bounds[1]))


def integer(rng: np.random.Generator, bounds: Sequence[int]) -> int:
    return int(rng.integers(bounds[0], bounds[1] + 1))


def odd(rng: np.random.Generator, bounds: Sequence[int]) -> int:
    """An odd integer in [low, high] (kernel sides must be odd)."""
    choices = [k for k in range(int(bounds[0]), int(bounds[1]) + 1) if k % 2 == 1]
    return int(rng.choice(choices))


def choice(rng: np.random.Generator, options: Sequence) -> object:
    value = options[int(rng.integers(len(options)))]
    return value.item() if isinstance(value, np.generic) else value


def seed(rng: np.random.Generator) -> int:
    """A seed for a kernel that needs its own noise, recorded so a replay draws the same noise."""
    return int(rng.integers(0, 2**31 - 1))


def check_odd(owner: object, field: str, values: Sequence[int]) -> None:
    if not any(k % 2 == 1 for k in range(int(values[0]), int(values[1]) + 1)):
        raise ConfigError(f"{type(owner).__name__}.{field}={values!r}: contains no odd kernel size")


def check_choices(owner: object, field: str, values: Sequence, allowed: Sequence) -> None:
    if not values or any(v not in allowed for v in values):
        raise ConfigError(
            f"{type(owner).__name__}.{field}={values!r}: choose from {list(allowed)}"
        )
