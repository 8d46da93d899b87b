"""Face detectors behind one interface, chosen by name in settings."""

from __future__ import annotations

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


_DETECTORS: dict[str, Callable[[Settings], FaceDetector]] = {}


def register_detector(name: str):
    """Class decorator: make a detector buildable by ``build_detector`` under ``name``."""

    def decorate(factory):
        _DETECTORS[name] = factory
        factory.name = name
        return factory

    return decorate


def available_detectors() -> list[str]:
    _load_builtin()
    return sorted(_DETECTORS)


def build_detector(settings: Settings) -> FaceDetector:
    """The detector ``settings.face_detector`` names, configured from ``settings``."""
    _load_builtin()
    try:
        factory = _DETECTORS[settings.face_detector]
    except KeyError:
        raise ConfigError(f"face detector {settings.face_detector!r} is unknown; choose one of "
                          f"{sorted(_DETECTORS)}") from None
    return factory(settings)


def _load_builtin() -> None:
    from moderation.faces import mtcnn, retinaface  # noqa: F401  (registers them)
