"""The data that flows through the generator's operations."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class SwapState:
    """Everything an operation may read or replace while making one fake.

    Images are BGR uint8 arrays of one size; landmarks are (68, 2) float32 pixel coordinates.
    ``source`` is face A (the face that will be pasted), ``target`` is face B (the photo that
    receives it). Operations return a new state with ``replace`` and never modify arrays in place.
    """

    source: np.ndarray
    target: np.ndarray
    source_landmarks: np.ndarray
    target_landmarks: np.ndarray
    given_mask: np.ndarray | None = None
    occlusion: np.ndarray | None = None
    mask: np.ndarray | None = None
    fake: np.ndarray | None = None

    def replace(self, **changes) -> SwapState:
        return replace(self, **changes)

    @property
    def size(self) -> tuple[int, int]:
        height, width = self.target.shape[:2]
        return height, width
