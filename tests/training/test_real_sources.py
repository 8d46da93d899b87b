"""The real class from the wild: the index of photos, video frames and tight crops, sampling by
source weight, framing jitter and re-framing, the source-only baseline and the threshold set on
held-out real video."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import SHARED

from moderation.config import Settings
from moderation.faces.crops import CropGeometry, crop_face, reframe_crop
from moderation.faces.detection import Detection, build_detector
from moderation.training.calibration import ClipFaces, _lowest_within, calibrate, video_scores
from moderation.training.data import FramingJitter, SwapTrainingSet, framed_crop
from moderation.training.faces_index import FaceIndex, SourceSpec, build_sources, clip_person
from moderation.training.shortcuts import source_baseline
from moderation.training.train import TrainConfig, detector_config

CLIPS = SHARED / "data" / "train" / "real-clips"
CROPS = SHARED / "data" / "train" / "dfdc-real-crops"
CLIP = "real_mead_spectre_MEAD_M003_level_1_happy_024.mp4"


@pytest.fixture(scope="module")
def mixed_index(lfw_subset, tmp_path_factory) -> FaceIndex:
    if not (CLIPS / CLIP).is_file() or not CROPS.is_dir():
        pytest.skip(f"{CLIPS} or {CROPS} is absent: the training faces of ../shared are needed")
    root = tmp_path_factory.mktemp("sources")
    (root / "clips").mkdir()
    (root / "clips" / CLIP).symlink_to(CLIPS / CLIP)
    (root / "crops").mkdir()
    for crop in sorted(CROPS.iterdir())[:4]:
        shutil.copy(crop, root / "crops" / crop.name)
    specs = [SourceSpec.parse("photos", f"lfw={lfw_subset}"),
             SourceSpec.parse("videos", f"clips={root / 'clips'}"),
             SourceSpec.parse("crops", f"dfdc={root / 'crops'}")]
    return build_sources(specs, Settings(), root / "frames", limit=6, frames_per_clip=6)


def test_the_index_takes_photos_video_frames_and_tight_crops(mixed_index, tmp_path):
    counts = mixed_index.counts()
    assert set(counts) == {"lfw", "clips", "dfdc"}
    assert counts["clips"]["images"] >= 5 and counts["clips"]["people"] == 1
    assert counts["dfdc"]["images"] == 4 and counts["dfdc"]["people"] == 4
    for row in np.flatnonzero(mixed_index.sources == "clips"):
        region = cv2.imread(str(mixed_index.path(row)))
        assert region.shape == (256, 256, 3)  # saved at the generator's working size
        x1, y1, x2, y2 = mixed_index.boxes[row]
        # the landmarks were moved with the region: they lie in the face box
        centre = mixed_index.landmarks[row].mean(axis=0)
        assert x1 < centre[0] < x2 and y1 < centre[1] < y2
        assert mixed_index.people[row] == "clips/MEAD_M003"
    for row in np.flatnonzero(mixed_index.sources == "dfdc"):
        crop = cv2.imread(str(mixed_index.path(row)))
        centre = mixed_index.landmarks[row].mean(axis=0)
        assert 0.25 * crop.shape[1] < centre[0] < 0.75 * crop.shape[1]
    mixed_index.save(tmp_path / "index.npz")
    loaded = FaceIndex.load(tmp_path / "index.npz")
    assert loaded.roots == mixed_index.roots and loaded.counts() == counts
    assert np.array_equal(loaded.landmarks, mixed_index.landmarks)


def test_a_clip_person_is_the_actor_where_the_name_has_one():
    assert clip_person("real_mead_spectre_MEAD_M003_level_1_happy_024") == "MEAD_M003"
    assert clip_person("real_mead_spectre_MEAD_M003_level_1_disgusted_015") == "MEAD_M003"
    assert clip_person("real_lrs3_spectre_LRS3_00002") == "real_lrs3_spectre_LRS3_00002"


def test_sources_are_sampled_by_their_weights(mixed_index):
    members = np.arange(len(mixed_index))
    weights = mixed_index.sampling_weights(members, {"lfw": 0.2, "clips": 0.5, "dfdc": 0.3})
    drawn = np.random.default_rng(0).choice(members, 20_000, p=weights)
    shares = {name: np.mean(mixed_index.sources[drawn] == name) for name in ("lfw", "clips",
                                                                              "dfdc")}
    assert shares == pytest.approx({"lfw": 0.2, "clips": 0.5, "dfdc": 0.3}, abs=0.02)
    with pytest.raises(Exception, match="nobody"):
        mixed_index.sampling_weights(members, {"nobody": 1.0})


def test_framing_without_jitter_is_the_workers_crop(astronaut):
    box = np.float32([170, 30, 280, 160])
    geometry = CropGeometry(size=160, margin=0.3)
    worker = crop_face(astronaut, Detection(box, 1.0), geometry)
    framed = framed_crop(astronaut, box, 160, (0.3, 0.0, 0.0, cv2.BORDER_CONSTANT))
    assert np.abs(worker.astype(int) - framed.astype(int)).mean() < 1.0


def test_a_tight_framing_fills_the_crop_with_the_box_and_borders_follow_the_draw():
    image = np.zeros((100, 100, 3), np.uint8)
    image[20:80, 20:80] = 200
    box = np.float32([20, 20, 80, 80])
    tight = framed_crop(image, box, 64, (0.0, 0.0, 0.0, cv2.BORDER_CONSTANT))
    assert tight[2:-2, 2:-2].min() == 200  # the box is the whole crop
    # a loose framing of a box at the image's edge leaves the image: black or repeated edge
    edge = np.full((60, 60, 3), 120, np.uint8)
    black = framed_crop(edge, np.float32([0, 0, 60, 60]), 64,
                        (0.5, 0.0, 0.0, cv2.BORDER_CONSTANT))
    copied = framed_crop(edge, np.float32([0, 0, 60, 60]), 64,
                         (0.5, 0.0, 0.0, cv2.BORDER_REPLICATE))
    assert black[0, 0].max() == 0 and copied[0, 0].min() == 120
    draws = [FramingJitter().draw(CropGeometry(), np.random.default_rng(seed))
             for seed in range(400)]
    margins = np.array([d[0] for d in draws])
    assert margins.min() < 0.05 and margins.max() > 0.55  # tight to loose
    assert 0.4 < np.mean([d[3] == cv2.BORDER_REPLICATE for d in draws]) < 0.6


def _iou(a, b) -> float:
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - width * height
    return float(width * height / union)


def test_re_framing_brings_any_framing_of_a_face_back_to_the_checkpoints(lfw_subset):
    detector = build_detector(Settings())
    photo = cv2.imread(str(sorted(lfw_subset.glob("*/*.jpg"))[0]))
    (face,) = detector.detect([photo])[0][:1]
    geometry = CropGeometry(size=160, margin=0.3)
    reference = detector.detect([crop_face(photo, face, geometry)])[0][0].box
    for margin in (0.0, 0.1, 0.5):
        framed = framed_crop(photo, face.box, 224, (margin, 0.0, 0.0, cv2.BORDER_REPLICATE))
        reframed = reframe_crop(framed, detector, geometry)
        assert reframed.shape == (160, 160, 3)
        # the face sits where the worker's own crop puts it, whatever the crop's framing
        assert _iou(detector.detect([reframed])[0][0].box, reference) > 0.8, margin


class _LeakyTrainingSet:
    """Test double of ``SwapTrainingSet``'s sampling where the source gives the label away."""

    def __init__(self, index: FaceIndex, length: int):
        self.index, self.length = index, length
        self.source_names = sorted(set(index.sources.tolist()))
        self.last_row, self.last_side = -1, 250

    def __len__(self):
        return self.length

    def sample(self, item):
        label = item % 2
        candidates = np.flatnonzero((self.index.sources == "dfdc") == bool(label))
        self.last_row = int(candidates[item % len(candidates)])
        return np.full((8, 8, 3), 100, np.uint8), label, None, 0.3


def test_the_source_baseline_finds_no_label_in_the_mix_and_catches_a_leaky_one(mixed_index):
    config = detector_config(TrainConfig(index=Path("."), real_root=None, out=Path(".")))
    dataset = SwapTrainingSet(mixed_index, np.arange(len(mixed_index)), config, 120, seed=3,
                              framing=FramingJitter())
    fair = source_baseline(dataset)
    assert fair["items"] == 120 and not fair["leaks"] and fair["auc"] < 0.7
    leaky = source_baseline(_LeakyTrainingSet(mixed_index, 120))
    assert leaky["leaks"] and leaky["auc"] > 0.95


def test_the_threshold_flags_at_most_the_rate_of_held_out_videos():
    scores = np.linspace(0.0, 0.99, 100)
    threshold = _lowest_within(scores, 0.01)
    assert np.sum(scores >= threshold) == 1
    assert _lowest_within(scores[:10], 0.01) > scores[:10].max()  # fewer than 100: none


def _clip(frames: int, scores: list[float]) -> tuple[ClipFaces, np.ndarray]:
    count = len(scores)
    return (ClipFaces("c.mp4", frames, [None] * count, list(range(count)), [0] * count,
                      {0: 100.0}), np.float32(scores))


def test_a_held_out_clip_is_scored_as_the_worker_scores_it_and_in_windows():
    # 64 samples: the first half real-looking, the second half high
    clip, scores = _clip(64, [0.1] * 32 + [0.9] * 32)
    views = dict(video_scores(clip, scores, frames_per_video=32, windows=2))
    # The evenly spread view: its best quarter lies in the high half (the worker's score).
    assert views["c.mp4"] == pytest.approx(0.9)
    assert views["c.mp4@0"] == pytest.approx(0.1) and views["c.mp4@32"] == pytest.approx(0.9)
    result = calibrate([(clip, scores)], np.float32([0.2, 0.3]), frames_per_video=32,
                       windows=2, video_rate=0.01, frame_rate=0.6)
    assert result.threshold > 0.9 and result.video_rate == 0.0 and result.videos == 3
