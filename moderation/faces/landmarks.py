"""68-point facial landmarks with dlib's models from the ``face-recognition-models`` wheel."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from moderation.errors import NoFaceFound
from moderation.weights import package_file

PREDICTOR_FILE = "shape_predictor_68_face_landmarks.dat"


def dlib_model_path(filename: str) -> Path:
    """One of dlib's model files, from the ``face-recognition-models`` wheel."""
    return package_file("face_recognition_models", f"models/{filename}", "face-recognition-models",
                        "dlib's models")


class LandmarkDetector:
    """Finds the main face of an image with dlib's HOG detector and fits 68 landmarks to it;
    ``fit`` fits them inside a box found by another detector."""

    def __init__(self, upsample: int = 0):
        import dlib

        self.upsample = upsample
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(str(dlib_model_path(PREDICTOR_FILE)))

    @property
    def model_id(self) -> str:
        return f"dlib-68/upsample={self.upsample}"

    def __call__(self, image: np.ndarray, source: str = "image") -> np.ndarray:
        """Landmarks of the largest face as a (68, 2) float32 array; ``NoFaceFound`` if none."""
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        faces = self._detector(gray, self.upsample)
        if len(faces) == 0:
            raise NoFaceFound(source, "no face found by dlib's detector")
        face = max(faces, key=lambda rect: rect.area())
        return _points(self._predictor(gray, face))

    def fit(self, image: np.ndarray, box) -> np.ndarray:
        """Landmarks of the face inside ``box`` (x1, y1, x2, y2), as (68, 2) float32."""
        import dlib

        gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        return _points(self._predictor(gray, dlib.rectangle(x1, y1, x2, y2)))

    def shape(self, image: np.ndarray, box):
        """dlib's own shape object for ``box``: what the face descriptor model consumes."""
        import dlib

        x1, y1, x2, y2 = (int(round(v)) for v in box)
        return self._predictor(image, dlib.rectangle(x1, y1, x2, y2))


def _points(shape) -> np.ndarray:
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)
