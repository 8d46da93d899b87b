"""Identity: dlib's descriptors on real faces, the gallery, and the threshold calibration."""

from __future__ import annotations

import numpy as np
import pytest

from moderation.faces.identity import (
    FaceDescriber,
    Gallery,
    Match,
    accuracy_at,
    best_threshold,
    cross_validate,
    track_descriptor,
)
from moderation.images import read_image

# dlib's HOG box of Eileen Collins' face in the 512 px portrait.
ASTRONAUT_BOX = (179, 83, 266, 170)
# LFW photos are 250 px with the face centred; the landmark fit aligns the face inside it.
CENTRAL_BOX = (75, 75, 175, 175)
# From the people of conftest's ``lfw_subset``.
PHOTOS = ["Al_Gore_0001", "Al_Gore_0002", "Al_Gore_0003", "Al_Gore_0004", "Abdullah_Gul_0001",
          "Abdullah_Gul_0002", "Aaron_Eckhart_0001"]


@pytest.fixture(scope="module")
def describer() -> FaceDescriber:
    return FaceDescriber()


@pytest.fixture(scope="module")
def lfw(describer, lfw_subset) -> dict[str, np.ndarray]:
    """Descriptors of a few LFW photos, by file stem."""
    return {stem: describer.describe(read_image(lfw_subset / stem[:-5] / f"{stem}.jpg"),
                                     CENTRAL_BOX)
            for stem in PHOTOS}


def distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b))


def test_descriptor_shape_and_determinism(describer, astronaut):
    descriptor = describer.describe(astronaut, ASTRONAUT_BOX)
    assert descriptor.shape == (128,) and descriptor.dtype == np.float32
    assert np.isfinite(descriptor).all()
    np.testing.assert_array_equal(describer.describe(astronaut, ASTRONAUT_BOX), descriptor)
    many = describer.describe_many(astronaut, [ASTRONAUT_BOX, ASTRONAUT_BOX])
    assert many.shape == (2, 128)
    np.testing.assert_allclose(many, [descriptor, descriptor], atol=1e-6)
    assert describer.describe_many(astronaut, []).shape == (0, 128)
    with pytest.raises(ValueError):
        describer.describe(astronaut, (266, 83, 179, 170))


def test_same_person_is_closer_than_another(lfw):
    same = distance(lfw["Al_Gore_0001"], lfw["Al_Gore_0002"])
    other = distance(lfw["Al_Gore_0001"], lfw["Abdullah_Gul_0001"])
    assert same < 0.6 < other  # the threshold right for pairs of photos (bench/identity.py)


def test_gallery_finds_the_enrolled_person_and_no_stranger(lfw, describer, astronaut):
    gallery = Gallery(threshold=0.6)
    assert gallery.match(lfw["Al_Gore_0003"]) is None
    gallery.add("gore", np.stack([lfw["Al_Gore_0001"], lfw["Al_Gore_0002"]]))
    gallery.add("gul", lfw["Abdullah_Gul_0001"][None])
    gallery.add("collins", describer.describe(astronaut, ASTRONAUT_BOX)[None])
    assert len(gallery) == 3 and gallery.descriptors.shape == (4, 128)

    found = gallery.match(lfw["Al_Gore_0003"])
    assert isinstance(found, Match) and found.person_id == "gore"
    assert found.distance == pytest.approx(min(
        distance(lfw["Al_Gore_0003"], lfw[stem]) for stem in ("Al_Gore_0001", "Al_Gore_0002")))
    assert gallery.match(lfw["Abdullah_Gul_0002"]).person_id == "gul"
    assert gallery.match(lfw["Aaron_Eckhart_0001"]) is None
    with pytest.raises(ValueError):
        gallery.add("nobody", np.zeros((2, 64), np.float32))


def test_track_descriptor_resists_a_stray_face(lfw):
    gore = [lfw[f"Al_Gore_000{i}"] for i in (1, 2, 3)]
    np.testing.assert_array_equal(track_descriptor(gore[0][None]), gore[0])
    track = track_descriptor(np.stack([*gore, lfw["Abdullah_Gul_0001"]]))
    assert track.shape == (128,) and track.dtype == np.float32
    gallery = Gallery(threshold=0.6)
    gallery.add("gore", lfw["Al_Gore_0004"][None])
    gallery.add("gul", lfw["Abdullah_Gul_0002"][None])
    assert gallery.match(track).person_id == "gore"
    with pytest.raises(ValueError):
        track_descriptor(np.empty((0, 128), np.float32))


def test_threshold_calibration_by_hand():
    distances = np.array([0.1, 0.9, 0.3, 0.7, 0.5, 0.4])
    same = np.array([True, False, True, False, False, True])
    # On all pairs the same ones are 0.1, 0.3, 0.4 and the different ones 0.5 and more.
    assert best_threshold(distances, same) == pytest.approx(0.45)
    assert accuracy_at(distances, same, 0.6) == pytest.approx(5 / 6)
    # Fold 0 holds pairs 0, 2, 4. Trained on 0.4 same, 0.7 and 0.9 different: threshold 0.55,
    # which calls 0.5 (different) same: 2/3. Fold 1 holds pairs 1, 3, 5. Trained on 0.1 and 0.3
    # same, 0.5 different: threshold 0.4, which calls 0.4 (same) different: 2/3.
    result = cross_validate(distances, same, folds=2)
    np.testing.assert_allclose(result.thresholds, [0.55, 0.4])
    np.testing.assert_allclose(result.accuracies, [2 / 3, 2 / 3])
    assert result.mean == pytest.approx(2 / 3) and result.std == pytest.approx(0)


def test_a_track_matches_only_with_agreement_and_a_margin():
    """Synthetic descriptors: a track is named only when its median is under the threshold,
    the runner-up is the margin farther, and enough of its faces agree on their own."""
    from moderation.faces.identity import TrackRule

    rng = np.random.default_rng(0)
    p, q = np.zeros(128, np.float32), np.zeros(128, np.float32)
    p[0], q[1] = 1.0, 1.0
    gallery = Gallery(rule=TrackRule(threshold=0.35, runner_up_margin=0.05, agreement=0.67))
    gallery.add("p", p[None])
    gallery.add("q", q[None])

    def near(centre, spread, count=6):
        return (centre + rng.normal(0, spread / np.sqrt(128), (count, 128))).astype(np.float32)

    found = gallery.match_track(near(p, 0.1))
    assert found.person_id == "p" and found.distance < 0.35 and found.agreement == 1.0
    assert found.runner_up > found.distance + 0.05
    assert gallery.match_track(near(p, 0.9)) is None  # the faces scatter: few agree
    aside = np.zeros(128, np.float32)
    aside[3] = 0.45  # 0.45 from p: under the candidate threshold (0.6), not the naming one
    loose = gallery.match_track(near(p + aside, 0.02))
    assert loose.person_id == "p" and not loose.certain and 0.35 < loose.distance < 0.6
    stranger = np.zeros(128, np.float32)
    stranger[2] = 1.0
    assert gallery.match_track(near(stranger, 0.05)) is None  # under no one's threshold
    between = near((p + q) / 2 + p * 0.01, 0.02)  # as near to both: no runner-up margin
    assert gallery.match_track(between, TrackRule(threshold=2.0)) is None
    assert gallery.match_track(between, TrackRule(threshold=2.0, runner_up_margin=0.0))
