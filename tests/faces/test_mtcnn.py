"""The offline default detector on real faces, with the weights from the facenet-pytorch wheel."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from moderation.config import Settings
from moderation.faces.detection import available_detectors, build_detector
from moderation.faces.mtcnn import MtcnnDetector


@pytest.fixture(scope="module")
def detector():
    return MtcnnDetector(Settings())


def test_registered_by_name():
    assert {"mtcnn", "retinaface"} <= set(available_detectors())
    assert isinstance(build_detector(Settings(face_detector="mtcnn")), MtcnnDetector)


def test_finds_the_astronaut_with_five_points(detector, astronaut):
    (face,) = detector.detect([astronaut])[0]
    x1, y1, x2, y2 = face.box
    assert 150 < x1 < 200 and 230 < x2 < 280 and 40 < y1 < 100 and 150 < y2 < 210
    assert face.score > 0.99 and face.points.shape == (5, 2)
    left_eye, right_eye, nose, mouth_left, mouth_right = face.points
    assert left_eye[0] < right_eye[0] and mouth_left[0] < mouth_right[0]
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_left[1], mouth_right[1])
    assert (x1 < face.points[:, 0]).all() and (face.points[:, 0] < x2).all()


def test_batches_of_different_sizes_keep_their_coordinates(detector, astronaut):
    frame = np.zeros((720, 1280, 3), np.uint8)
    frame[100:612, 600:1112] = astronaut  # shrunk to 640 px wide inside the detector
    blank = np.full((300, 300, 3), 128, np.uint8)
    found_alone, found_in_frame, found_in_blank = detector.detect([astronaut, frame, blank])
    assert found_in_blank == []
    shifted = found_in_frame[0].box - np.float32([600, 100, 600, 100])
    np.testing.assert_allclose(shifted, found_alone[0].box, atol=6)


def test_minimum_face_size(astronaut):
    assert MtcnnDetector(Settings(min_face_px=200)).detect([astronaut]) == [[]]


@pytest.mark.shared
def test_video_search_finds_what_the_full_search_finds(detector):
    from moderation.faces.tracking import box_iou
    from moderation.video.reader import probe, read_frames, sample_times
    from tests.conftest import SHARED

    clip = SHARED / "data" / "videos" / "fake_ffpp_c23_faceswap_634_660.mp4"
    if not clip.is_file():
        pytest.skip(f"{clip} is absent: the shared clips are needed")
    info = probe(clip)
    images = [frame.image for frame in read_frames(info, sample_times(info, count=16))]
    full, propagated = detector.detect(images), detector.detect_video(images)
    assert all(full) and all(propagated)
    for everywhere, around in zip(full, propagated, strict=True):
        assert box_iou(everywhere[0].box, around[0].box) > 0.8


@pytest.mark.parametrize("height, width", [(1, 1), (4001, 17), (4096, 2), (2, 4096), (32, 32),
                                           (32, 8192), (45, 45)])
def test_tiny_and_extreme_frames_have_no_faces_and_no_crash(detector, height, width):
    # Once torch.cat() of an empty pyramid and an OpenCV resize to 0 px; a video mixing them
    # with normal frames goes through detect_video's propagation too.
    frames = [np.full((height, width, 3), 128, np.uint8)] * 6
    assert detector.detect(frames[:1]) == [[]]
    assert detector.detect_video(frames) == [[]] * 6


def test_a_frame_whose_pyramid_is_empty_finds_nothing(detector):
    # min_face above the frame's side: the proposal stage has no scale to run at.
    boxes, image_index = detector._proposals(torch.zeros(1, 3, 20, 20), 40.0, 0.6)
    assert boxes.shape[0] == 0 and image_index.shape[0] == 0
