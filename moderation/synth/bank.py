"""A folder of real face photos: listing, identities, landmarks, framing and pairing."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from moderation.errors import ConfigError, InputError, NoFaceFound
from moderation.faces.landmarks import LandmarkDetector
from moderation.images import IMAGE_SUFFIXES, read_image
from moderation.synth.framing import frame_face
from moderation.synth.landmarks import LandmarkCache


@dataclass(frozen=True)
class Face:
    """A photo framed to the generator's size, with its landmarks in the framed coordinates."""

    key: str
    image: np.ndarray
    landmarks: np.ndarray


class FaceBank:
    """Real faces under ``root``. A sub-folder is one person (LFW's layout); images directly in
    ``root`` each count as their own person."""

    def __init__(self, root: str | Path, detector: LandmarkDetector, cache_dir: Path,
                 size: int = 256, crop_scale: float | None = 2.0, min_side: int = 64):
        self.root = Path(root)
        if not self.root.is_dir():
            raise ConfigError(f"{self.root}: not a folder of face images")
        self.keys = list_images(self.root)
        if not self.keys:
            suffixes = ", ".join(sorted(IMAGE_SUFFIXES))
            raise ConfigError(f"{self.root}: contains no images ({suffixes})")
        people = [key.rsplit("/", 1)[0] if "/" in key else key for key in self.keys]
        names, self.person = np.unique(people, return_inverse=True)
        self.people = len(names)
        self.detector = detector
        self.cache = LandmarkCache(self.root, cache_dir, detector.model_id)
        self.size, self.crop_scale, self.min_side = size, crop_scale, min_side

    def __len__(self) -> int:
        return len(self.keys)

    def path(self, key: str) -> Path:
        return self.root / key

    def landmarks(self, key: str, image: np.ndarray | None = None) -> np.ndarray:
        """Landmarks in the original photo's coordinates, from the cache or measured now."""
        path = self.path(key)
        try:
            cache_key = LandmarkCache.entry_key(key, path.stat().st_size)
        except OSError as exc:
            raise InputError(str(path), f"cannot be read ({exc.strerror or exc})") from None
        cached = self.cache.get(cache_key)
        if isinstance(cached, str):
            raise NoFaceFound(str(path), cached)
        if cached is not None:
            return cached
        if image is None:
            image = read_image(path, self.min_side)
        try:
            points = self.detector(image, str(path))
        except NoFaceFound as exc:
            self.cache.put(cache_key, exc.problem)
            raise
        self.cache.put(cache_key, points)
        return points

    def load(self, key: str) -> Face:
        image = read_image(self.path(key), self.min_side)
        points = self.landmarks(key, image)
        framed, framed_points = frame_face(image, points, self.size, self.crop_scale)
        return Face(key, framed, framed_points)

    def draw_pair(self, rng: np.random.Generator, mode: str = "pair", pairing: str = "random",
                  candidates: int = 8) -> tuple[str, str]:
        """Draw (source A, target B).

        ``pair``: B is a different person; with ``nearest`` pairing B is the candidate, among
        ``candidates`` random ones, whose landmark shape is closest to A's (as in Face X-ray).
        ``self``: A and B are the same photo.
        """
        source = int(rng.integers(len(self.keys)))
        if mode == "self":
            return self.keys[source], self.keys[source]
        if self.people < 2:
            raise ConfigError(f"{self.root}: pair mode needs photos of at least two people; "
                              "use --mode self")
        count = candidates if pairing == "nearest" else 1
        picks = []
        while len(picks) < count:
            index = int(rng.integers(len(self.keys)))
            if self.person[index] != self.person[source]:
                picks.append(index)
        if pairing == "random":
            return self.keys[source], self.keys[picks[0]]
        source_shape = _shape(self.landmarks(self.keys[source]))
        distances = []
        for index in picks:
            try:
                distances.append(np.linalg.norm(_shape(self.landmarks(self.keys[index]))
                                                - source_shape))
            except InputError:
                distances.append(np.inf)
        best = int(np.argmin(distances))
        if not np.isfinite(distances[best]):
            raise NoFaceFound(str(self.path(self.keys[picks[best]])),
                              f"none of {count} candidate partners has a face")
        return self.keys[source], self.keys[picks[best]]


def list_images(root: Path) -> list[str]:
    """Image paths under ``root``, relative and sorted; linked sub-folders are followed."""
    keys = []
    for folder, _, files in os.walk(root, followlinks=True):
        relative = Path(folder).relative_to(root)
        keys += [(relative / name).as_posix() for name in files
                 if Path(name).suffix.lower() in IMAGE_SUFFIXES]
    return sorted(keys)


def _shape(points: np.ndarray) -> np.ndarray:
    """Landmarks with position and scale removed, so only the shape (pose, expression) is left."""
    centred = points - points.mean(axis=0)
    return centred / (np.linalg.norm(centred) + 1e-6)
