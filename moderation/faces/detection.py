"""Face detectors behind one interface, chosen by name in settings.

This module imports no detector. A detector registers itself (``register_detector``) when its
module is imported; the built-in ones need torch and a package of their own (facenet-pytorch,
retinaface-pytorch), so they are named in ``PLUGINS`` and only the chosen one's module is
imported, by ``build_detector``.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from moderation.config import Settings
from moderation.errors import ConfigError


@dataclass(frozen=True)
class Detection:
    """One face in one image, in that image's pixel coordinates.

    ``box`` is (x1, y1, x2, y2) float32; ``points`` are five landmarks (left eye, right eye,
    nose, left mouth corner, right mouth corner; "left" as seen in the image), or None.
    """

    box: np.ndarray
    score: float
    points: np.ndarray | None = None

    @property
    def side(self) -> float:
        return float(max(self.box[2] - self.box[0], self.box[3] - self.box[1]))

    def scaled(self, factor: float) -> Detection:
        points = None if self.points is None else self.points * np.float32(factor)
        return Detection(self.box * np.float32(factor), self.score, points)


class FaceDetector(ABC):
    """Finds faces in BGR uint8 images; batched: one list of detections per image."""

    name: str = ""
    # How this detector's boxes differ from dlib's HOG boxes, which dlib's landmark and
    # descriptor models were trained on: (x1, y1, x2, y2) shifts in units of the box's width.
    dlib_box_offsets: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)

    def dlib_box(self, detection: Detection) -> np.ndarray:
        """The box dlib's models expect for this face."""
        width = float(detection.box[2] - detection.box[0])
        return detection.box + np.float32(self.dlib_box_offsets) * width

    @abstractmethod
    def detect(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        """Detections for each image, best score first, already filtered by the thresholds."""

    def detect_video(self, frames: Sequence[np.ndarray]) -> list[list[Detection]]:
        """Detections for consecutive samples of one video; a detector may use their order."""
        return self.detect(frames)


def min_face_side(min_face_px: float, min_face_fraction: float, size: tuple[int, int]) -> float:
    """The smallest face side a detector reports in a frame of ``size`` (height, width), in its
    pixels: the larger of ``min_face_px`` and ``min_face_fraction`` of its shorter side."""
    return max(min_face_px, min_face_fraction * min(size))


_DETECTORS: dict[str, Callable[[Settings], FaceDetector]] = {}
# Detector name -> the module that registers it, imported when the name is chosen.
PLUGINS: dict[str, str] = {"mtcnn": "moderation.faces.mtcnn",
                           "retinaface": "moderation.faces.retinaface"}


def register_detector(name: str):
    """Class decorator: make a detector buildable by ``build_detector`` under ``name``."""

    def decorate(factory):
        _DETECTORS[name] = factory
        factory.name = name
        return factory

    return decorate


def available_detectors() -> list[str]:
    """Names of the registered detectors and plug-ins; imports none of them."""
    return sorted(set(_DETECTORS) | set(PLUGINS))


def build_detector(settings: Settings) -> FaceDetector:
    """The detector ``settings.face_detector`` names, configured from ``settings``."""
    name = settings.face_detector
    if name not in _DETECTORS and name in PLUGINS:
        importlib.import_module(PLUGINS[name])
    try:
        factory = _DETECTORS[name]
    except KeyError:
        problem = (f"{PLUGINS[name]} was imported but does not register it" if name in PLUGINS
                   else f"choose one of {available_detectors()}")
        raise ConfigError(f"face detector {name!r} is unknown; {problem}") from None
    return factory(settings)
