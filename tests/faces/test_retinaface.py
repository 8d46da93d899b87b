"""RetinaFace backend: weights lookup and checks, preprocessing, and detection's bookkeeping.

The release weights cannot be downloaded here, so detection runs on a stand-in: a seeded, randomly
initialised network saved like the release file. It checks shapes, coordinates, ordering and
filters, not whether faces are found.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from moderation.config import Settings
from moderation.errors import ModelWeightsMissing
from moderation.faces import retinaface
from moderation.faces.detection import build_detector, min_face_side
from moderation.faces.retinaface import (
    WEIGHTS_FILE,
    WEIGHTS_SHA256_PREFIX,
    RetinaFaceDetector,
    build_network,
    preprocess,
    shrink,
)

# Small enough for a few CPU seconds; still shrinks every test image.
MAX_SIDE = 160
# The large test frame is the small one with each pixel repeated this many times each way.
REPEAT = 1280 // MAX_SIDE


def sha256_prefix(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:len(WEIGHTS_SHA256_PREFIX)]


@pytest.fixture(scope="module")
def stand_in_weights(tmp_path_factory) -> tuple[Path, str]:
    """A stand-in for the unavailable release weights: random but seeded, with its own hash."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "stand_in_retinaface.pth"
    torch.save(build_network().state_dict(), path)
    return path, sha256_prefix(path)


@pytest.fixture
def hub_dir(tmp_path, monkeypatch) -> Path:
    """An empty torch hub folder, so the real cache is never consulted."""
    hub = tmp_path / "hub"
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    return hub


def retinaface_settings(weights: Path | None, **overrides) -> Settings:
    return Settings(face_detector="retinaface", retinaface_weights=weights, **overrides)


def test_missing_weights_say_where_they_were_looked_for_and_how_to_provide_them(hub_dir):
    with pytest.raises(ModelWeightsMissing) as caught:
        RetinaFaceDetector(retinaface_settings(None))
    message = str(caught.value)
    assert str(hub_dir / "checkpoints" / WEIGHTS_FILE) in message
    assert "MODERATION_RETINAFACE_WEIGHTS" in message
    assert WEIGHTS_SHA256_PREFIX in message
    assert "mtcnn" in message


def test_a_configured_path_that_does_not_exist_is_named(hub_dir, tmp_path):
    absent = tmp_path / "nowhere" / WEIGHTS_FILE
    with pytest.raises(ModelWeightsMissing, match="MODERATION_RETINAFACE_WEIGHTS") as caught:
        RetinaFaceDetector(retinaface_settings(absent))
    assert str(absent) in str(caught.value)


def test_a_file_with_the_wrong_hash_is_refused(stand_in_weights):
    path, _ = stand_in_weights
    with pytest.raises(ModelWeightsMissing, match="sha256") as caught:
        RetinaFaceDetector(retinaface_settings(path))  # expects the release file's hash
    assert str(path) in str(caught.value)


def test_a_file_that_is_not_a_state_dict_is_refused(tmp_path):
    path = tmp_path / WEIGHTS_FILE
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelWeightsMissing, match="not a readable RetinaFace weights") as caught:
        RetinaFaceDetector(retinaface_settings(path), expected_sha256_prefix=sha256_prefix(path))
    assert str(path) in str(caught.value)


def test_the_torch_hub_cache_and_its_single_file_zip_are_used(stand_in_weights, hub_dir):
    """The release file is a zip holding one checkpoint, the layout torch hub unpacks."""
    path, _ = stand_in_weights
    cached = hub_dir / "checkpoints" / WEIGHTS_FILE
    cached.parent.mkdir(parents=True)
    with zipfile.ZipFile(cached, "w") as archive:
        archive.write(path, "retinaface_resnet50_2020-07-20.pth")
    detector = RetinaFaceDetector(retinaface_settings(None),
                                  expected_sha256_prefix=sha256_prefix(cached))
    expected = torch.load(path, weights_only=True)
    assert torch.equal(detector._net.state_dict()["fpn.output1.0.weight"],
                       expected["fpn.output1.0.weight"])


def test_shrink_caps_the_longer_side_and_leaves_small_images_alone():
    frame = np.zeros((720, 1280, 3), np.uint8)
    assert shrink(frame, 640).shape == (360, 640, 3)
    assert shrink(frame, 1280) is frame


def test_preprocess_feeds_rgb_normalised_like_albumentations():
    red_bgr = np.zeros((2, 3, 3), np.uint8)
    red_bgr[..., 2] = 255
    batch = preprocess([red_bgr, red_bgr])
    assert batch.shape == (2, 3, 2, 3) and batch.dtype == torch.float32
    expected = [(1 - 0.485) / 0.229, -0.456 / 0.224, -0.406 / 0.225]
    assert np.allclose(batch[0, :, 0, 0].numpy(), expected, atol=1e-5)


@pytest.fixture(scope="module")
def detector(stand_in_weights) -> RetinaFaceDetector:
    path, prefix = stand_in_weights
    settings = retinaface_settings(path, face_score_threshold=0.0, min_face_px=24,
                                   detection_max_side=MAX_SIDE)
    return RetinaFaceDetector(settings, expected_sha256_prefix=prefix)


@pytest.fixture(scope="module")
def frames(astronaut) -> list[np.ndarray]:
    """The astronaut alone, then a 1280x720 frame and the same frame at detection size.

    The large frame is the small one with each pixel repeated REPEAT x REPEAT times, so shrinking
    it gives the small one back exactly and their detections must match up to that factor.
    """
    small = np.full((MAX_SIDE * 9 // 16, MAX_SIDE, 3), 90, np.uint8)
    side = small.shape[0]
    left = (MAX_SIDE - side) // 2
    small[:, left:left + side] = cv2.resize(astronaut, (side, side), interpolation=cv2.INTER_AREA)
    large = np.repeat(np.repeat(small, REPEAT, axis=0), REPEAT, axis=1)
    assert large.shape == (720, 1280, 3)
    return [astronaut, large, small]


@pytest.fixture(scope="module")
def detections(detector, frames):
    return detector.detect(frames)


def test_detections_are_well_formed_in_original_pixels(detections, frames):
    assert len(detections) == len(frames)
    for faces, image in zip(detections, frames, strict=True):
        assert faces, "a zero threshold on random weights should leave some detections"
        height, width = image.shape[:2]
        for face in faces:
            assert face.box.dtype == np.float32 and face.box.shape == (4,)
            x1, y1, x2, y2 = face.box
            assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height
            assert 0.0 <= face.score <= 1.0
            assert face.points.dtype == np.float32 and face.points.shape == (5, 2)


def test_detections_are_best_first_and_at_least_min_face_px(detector, detections):
    for faces in detections:
        scores = [face.score for face in faces]
        assert scores == sorted(scores, reverse=True)
        assert min(face.side for face in faces) >= detector.settings.min_face_px


def test_boxes_and_points_are_scaled_back_from_the_shrunk_frame(detector, detections):
    """The large frame runs at the small one's size, in the same batch: same faces, REPEAT times
    larger, except that the size filter, applied in original pixels, keeps more of them there."""
    large, small = detections[1], detections[2]
    large = [face for face in large if face.side >= REPEAT * detector.settings.min_face_px]
    assert len(large) == len(small)
    for big, face in zip(large, small, strict=True):
        assert big.score == pytest.approx(face.score, abs=1e-5)
        assert np.allclose(big.box, REPEAT * face.box, atol=1e-2)
        assert np.allclose(big.points, REPEAT * face.points, atol=1e-2)


def test_the_face_fraction_filters_as_mtcnn_does(detector, frames, monkeypatch):
    """The larger of min_face_px and min_face_fraction of the frame's shorter side applies, in
    original pixels: on the 1280x720 frame a fifth of 720 px, far above min_face_px."""
    loose = detector.settings.model_copy(update={"min_face_fraction": 0.0})
    monkeypatch.setattr(detector, "settings", loose)
    everything = detector.detect(frames[1:2])[0]
    monkeypatch.setattr(detector, "settings", loose.model_copy(update={"min_face_fraction": 0.2}))
    kept = detector.detect(frames[1:2])[0]
    floor = 0.2 * 720
    assert floor > loose.min_face_px
    assert kept and any(face.side < floor for face in everything)
    expected = [face for face in everything if face.side >= floor]
    assert [face.box.tolist() for face in kept] == [face.box.tolist() for face in expected]
    assert min_face_side(loose.min_face_px, 0.2, (720, 1280)) == floor


def test_the_score_threshold_filters(detector, frames, detections, monkeypatch):
    strict = detector.settings.model_copy(update={"face_score_threshold": 0.9})
    monkeypatch.setattr(detector, "settings", strict)
    faces = detector.detect(frames[:1])[0]
    assert all(face.score >= 0.9 for face in faces)
    assert len(faces) <= len(detections[0])


def test_images_that_are_not_bgr_uint8_are_refused(detector):
    with pytest.raises(ValueError, match="BGR uint8"):
        detector.detect([np.zeros((64, 64), np.uint8)])


def test_build_detector_builds_retinaface_by_name(stand_in_weights, monkeypatch):
    path, prefix = stand_in_weights
    # build_detector passes settings only, so the stand-in's hash stands in for the release's.
    monkeypatch.setattr(retinaface, "WEIGHTS_SHA256_PREFIX", prefix)
    assert isinstance(build_detector(retinaface_settings(path)), RetinaFaceDetector)
