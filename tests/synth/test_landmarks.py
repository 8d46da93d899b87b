"""Landmarks: dlib's 68 points on a real face, and the per-folder cache."""

from __future__ import annotations

import numpy as np
import pytest

from moderation.errors import NoFaceFound
from moderation.synth.bank import FaceBank


def test_68_points_on_the_face(detector, astronaut):
    points = detector(astronaut, "astronaut")
    assert points.shape == (68, 2) and points.dtype == np.float32
    # Eileen Collins' face sits at about x 170-250, y 60-170 in the 512 px portrait.
    low, high = points.min(axis=0), points.max(axis=0)
    assert 140 < low[0] < 200 and 220 < high[0] < 280 and 50 < low[1] < 120 and 150 < high[1] < 210


def test_folder_landmarks_are_cached(tmp_path, detector, astronaut_folder, astronaut):
    import cv2

    cv2.imwrite(str(astronaut_folder / "blank.png"), np.full((100, 100, 3), 90, np.uint8))
    bank = FaceBank(astronaut_folder, detector, tmp_path)
    points = bank.landmarks("astronaut.png")
    with pytest.raises(NoFaceFound):
        bank.landmarks("blank.png")
    bank.cache.save()

    class NoDetector:
        model_id = detector.model_id

        def __call__(self, image, source):
            raise AssertionError("the cache should have answered")

    cached = FaceBank(astronaut_folder, NoDetector(), tmp_path)
    np.testing.assert_array_equal(cached.landmarks("astronaut.png"), points)
    with pytest.raises(NoFaceFound):
        cached.landmarks("blank.png")
    (astronaut_folder / "blank.png").unlink()
