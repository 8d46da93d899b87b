"""Fakes drawn from a folder of real faces: the n-th fake depends only on (seed, n).

The batch command, the torch dataset and the benchmarks all go through ``FolderFakes``, so a
fake made on the fly in training is the same one the CLI writes for the same seed and index.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from moderation.errors import InputError
from moderation.images import read_image
from moderation.synth.bank import FaceBank
from moderation.synth.framing import frame_face
from moderation.synth.generator import FakeGenerator, FakeResult
from moderation.synth.recipe import Recipe


@dataclass
class Attempt:
    """The outcome of one index: a fake (or None after ``max_attempts``) and the skips."""

    result: FakeResult | None
    skips: Counter = field(default_factory=Counter)


class FolderFakes:
    def __init__(self, bank: FaceBank, generator: FakeGenerator, seed: int,
                 pairing: str = "random", candidates: int = 8, max_attempts: int = 20,
                 strict: bool = False, occlusion_dir: Path | None = None,
                 mask_dir: Path | None = None):
        self.bank, self.generator, self.seed = bank, generator, seed
        self.pairing, self.candidates = pairing, candidates
        self.max_attempts, self.strict = max_attempts, strict
        self.occlusion_dir = Path(occlusion_dir) if occlusion_dir else None
        self.mask_dir = Path(mask_dir) if mask_dir else None

    def make(self, index: int) -> Attempt:
        """The fake number ``index``; bad inputs are skipped (or raised when ``strict``)."""
        skips: Counter = Counter()
        for attempt in range(self.max_attempts):
            pair_rng = np.random.default_rng([self.seed, index, attempt, 0])
            fake_seed = int(np.random.default_rng([self.seed, index, attempt, 1]).integers(2**62))
            try:
                source_key, target_key = self.bank.draw_pair(
                    pair_rng, self.generator.mode, self.pairing, self.candidates)
                result = self._make(source_key, target_key, fake_seed,
                                    {"index": index, "attempt": attempt, "batch_seed": self.seed,
                                     "root": str(self.bank.root.resolve())})
            except InputError as exc:
                if self.strict:
                    raise
                skips[exc.reason] += 1
                continue
            return Attempt(result, skips)
        skips["gave_up"] += 1
        return Attempt(None, skips)

    def _make(self, source_key, target_key, seed, extra) -> FakeResult:
        source = self.bank.load(source_key)
        target = source if target_key == source_key else self.bank.load(target_key)
        return self.generator.make(
            source.image, target.image, seed=seed, source_landmarks=source.landmarks,
            target_landmarks=target.landmarks, source_id=source_key, target_id=target_key,
            occlusion=self._framed_map(self.occlusion_dir, target_key),
            mask=self._framed_map(self.mask_dir, source_key), framed=True,
            landmark_source=self.bank.detector.model_id, extra=extra)

    def replay(self, recipe: Recipe) -> FakeResult:
        source = self.bank.load(recipe.source)
        target = source if recipe.target == recipe.source else self.bank.load(recipe.target)
        return self.generator.replay(
            recipe, source.image, target.image, source_landmarks=source.landmarks,
            target_landmarks=target.landmarks,
            occlusion=self._framed_map(self.occlusion_dir, recipe.target),
            mask=self._framed_map(self.mask_dir, recipe.source), framed=True)

    def _framed_map(self, folder: Path | None, key: str) -> np.ndarray | None:
        """``FOLDER/<photo's path>.png`` (white = 1), framed like the photo; or None.

        Occlusion maps belong to B, precomputed masks to A; both are drawn on the original photo.
        """
        if folder is None:
            return None
        path = folder / Path(key).with_suffix(".png")
        if not path.is_file():
            return None
        values = read_image(path)[..., 0].astype(np.float32) / 255.0
        original = read_image(self.bank.path(key))
        if values.shape != original.shape[:2]:
            raise InputError(str(path), f"map is {values.shape[1]}x{values.shape[0]}, its "
                             f"photo {original.shape[1]}x{original.shape[0]}")
        framed, _ = frame_face(values, self.bank.landmarks(key), self.bank.size,
                               self.bank.crop_scale)
        return framed
