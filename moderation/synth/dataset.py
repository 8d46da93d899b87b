"""Synthetic fakes made on the fly for PyTorch training: nothing is written to disk."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from moderation.synth.folder import FolderFakes


class SyntheticFakes(Dataset):
    """``length`` fakes from a folder of real faces; item ``i`` is always the same fake.

    Each item is a dict: ``image`` (3xHxW float RGB in [0, 1]), ``mask`` and ``boundary``
    (1xHxW float), ``label`` (1, fake) and ``recipe`` (the JSON string that rebuilds it). An
    index whose attempts all hit bad inputs raises, so a broken folder is noticed, not hidden.
    Build the ``FolderFakes`` in each DataLoader worker via ``factory`` (dlib models do not
    pickle): pass a ``batch.FolderFakesFactory``.
    """

    def __init__(self, factory, length: int):
        self.factory = factory
        self.length = length
        self._fakes: FolderFakes | None = None

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < self.length:
            raise IndexError(index)
        if self._fakes is None:
            self._fakes = self.factory()
        attempt = self._fakes.make(index)
        if attempt.result is None:
            raise RuntimeError(
                f"fake {index}: every attempt hit a bad input ({dict(attempt.skips)})")
        result = attempt.result
        rgb = np.ascontiguousarray(result.fake[..., ::-1])
        return {
            "image": torch.from_numpy(rgb).permute(2, 0, 1).float().div_(255.0),
            "mask": torch.from_numpy(result.mask)[None],
            "boundary": torch.from_numpy(result.boundary)[None],
            "label": torch.tensor(1),
            "recipe": result.recipe.to_json(),
        }
