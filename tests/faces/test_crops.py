"""Crops: square with a margin around the box, or aligned on the five landmarks."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from moderation.errors import ConfigError
from moderation.faces.crops import FIVE_POINT_TEMPLATE, CropGeometry, crop_face, crop_matrix
from moderation.faces.detection import Detection
from moderation.synth.functional.geometry import warp_points


def test_square_crop_with_margin():
    image = np.zeros((400, 600, 3), np.uint8)
    image[100:200, 300:400] = 255  # the "face": a 100 px white box
    detection = Detection(np.float32([300, 100, 400, 200]), 0.99)
    crop = crop_face(image, detection, CropGeometry(size=160, margin=0.3))
    assert crop.shape == (160, 160, 3)
    # 100 px box with 30% margin each side: 160 px of frame, the box spans 30..130.
    assert crop[31:129, 31:129].min() == 255 and crop[:28].max() == 0 and crop[:, 132:].max() == 0


def test_crop_outside_the_frame_is_black():
    image = np.full((100, 100, 3), 200, np.uint8)
    crop = crop_face(image, Detection(np.float32([0, 0, 50, 50]), 1.0), CropGeometry(size=64))
    assert crop[:5, :5].max() == 0 and crop[40, 40].min() == 200


def test_alignment_levels_the_eyes(astronaut):
    from moderation.config import Settings
    from moderation.faces.mtcnn import MtcnnDetector

    turned = cv2.warpAffine(astronaut, cv2.getRotationMatrix2D((210, 120), 25, 1.0), (512, 512))
    (face,) = MtcnnDetector(Settings()).detect([turned])[0]
    geometry = CropGeometry(size=112, margin=0.0, align=True)
    placed = warp_points(face.points, crop_matrix(face, geometry))
    left_eye, right_eye = placed[0], placed[1]
    assert abs(left_eye[1] - right_eye[1]) < 3
    np.testing.assert_allclose(placed, FIVE_POINT_TEMPLATE * 112, atol=8)
    assert crop_face(turned, face, geometry).shape == (112, 112, 3)


def test_geometry_round_trips_and_validates():
    geometry = CropGeometry(size=192, margin=0.25, align=True)
    assert CropGeometry.from_dict(geometry.to_dict()) == geometry
    with pytest.raises(ConfigError, match="margin=3"):
        CropGeometry(margin=3)
