"""The landmark cache of a folder of faces (the landmarks: ``moderation.faces.landmarks``)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np


class LandmarkCache:
    """Landmarks of one folder, computed once and kept in a ``.npz`` under the cache directory.

    Entries are keyed by the image's path relative to the folder and its size in bytes, so a
    replaced file is measured again. Failures (no face) are cached too, with their reason.
    """

    def __init__(self, root: Path, cache_dir: Path, model_id: str):
        self.root = Path(root).resolve()
        digest = hashlib.sha256(f"{self.root}|{model_id}".encode()).hexdigest()[:16]
        self.path = Path(cache_dir) / "landmarks" / f"{self.root.name}-{digest}.npz"
        self.points: dict[str, np.ndarray] = {}
        self.failures: dict[str, str] = {}
        self.fresh: dict[str, np.ndarray | str] = {}
        self._load()

    @staticmethod
    def entry_key(relative: str, size_bytes: int) -> str:
        return f"{relative}|{size_bytes}"

    def get(self, key: str) -> np.ndarray | str | None:
        """Landmarks, a failure reason, or None when not measured yet."""
        if key in self.points:
            return self.points[key]
        return self.failures.get(key)

    def put(self, key: str, value: np.ndarray | str) -> None:
        if isinstance(value, str):
            self.failures[key] = value
        else:
            self.points[key] = value
        self.fresh[key] = value

    def merge(self, entries: dict[str, np.ndarray | str]) -> None:
        for key, value in entries.items():
            self.put(key, value)

    def take_fresh(self) -> dict[str, np.ndarray | str]:
        """Entries measured since the last call (worker processes send these to the parent)."""
        fresh, self.fresh = self.fresh, {}
        return fresh

    def _load(self) -> None:
        if not self.path.is_file():
            return
        try:
            with np.load(self.path, allow_pickle=False) as data:
                self.points = dict(zip(data["keys"].tolist(), data["points"], strict=True))
                self.failures = dict(zip(data["failed_keys"].tolist(),
                                         data["failed_reasons"].tolist(), strict=True))
        except (OSError, KeyError, ValueError):
            # A damaged cache only costs a recomputation; never let it stop a run.
            self.points, self.failures = {}, {}

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = sorted(self.points)
        points = np.stack([self.points[k] for k in keys]) if keys else np.zeros((0, 68, 2))
        failed = sorted(self.failures)
        partial = self.path.with_name(f"{self.path.stem}.{os.getpid()}.partial.npz")
        np.savez(partial, keys=np.array(keys, dtype=str), points=points.astype(np.float32),
                 failed_keys=np.array(failed, dtype=str),
                 failed_reasons=np.array([self.failures[k] for k in failed], dtype=str))
        partial.replace(self.path)
