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


def test_inner_faces_differ_from_whole_faces_only_by_the_surroundings(describer, lfw_subset):
    image = read_image(lfw_subset / "Al_Gore" / "Al_Gore_0001.jpg")
    regions = describer.describe_regions(image, [CENTRAL_BOX])
    assert regions.whole.shape == regions.inner.shape == (1, 128)
    np.testing.assert_allclose(regions.whole[0], describer.describe(image, CENTRAL_BOX),
                               atol=1e-6)
    # Greying everything around the landmark hull changes the descriptor, but it still names
    # the person: another photo's inner face is nearer than another person's.
    assert distance(regions.whole[0], regions.inner[0]) > 0.01
    other = describer.describe_regions(read_image(lfw_subset / "Al_Gore" / "Al_Gore_0002.jpg"),
                                       [CENTRAL_BOX])
    stranger = describer.describe_regions(
        read_image(lfw_subset / "Abdullah_Gul" / "Abdullah_Gul_0001.jpg"), [CENTRAL_BOX])
    assert distance(regions.inner[0], other.inner[0]) < distance(regions.inner[0],
                                                                 stranger.inner[0])
    # A changed forehead and hair (what a swap leaves of the other head) leave the inner face
    # nearly alone and move the whole face more.
    framed = image.copy()
    framed[:85] = (40, 160, 220)
    moved = describer.describe_regions(framed, [CENTRAL_BOX])
    assert distance(moved.inner[0], regions.inner[0]) < distance(moved.whole[0],
                                                                 regions.whole[0])
    empty = describer.describe_regions(image, [])
    assert empty.whole.shape == empty.inner.shape == (0, 128)


def test_inner_faces_name_the_person_and_whole_faces_judge_the_context():
    """Synthetic descriptors: a person enrolled with inner faces is named by the track's inner
    faces; the whole faces agree (their own face and head) or lie farther (another head)."""
    from moderation.faces.identity import TrackRule

    rng = np.random.default_rng(1)
    axes = np.eye(128, dtype=np.float32)
    p_whole, p_inner, q_whole, q_inner = axes[0], axes[1], axes[2], axes[3]

    def near(centre, spread=0.02, count=6):
        return (centre + rng.normal(0, spread / np.sqrt(128), (count, 128))).astype(np.float32)

    rule = TrackRule(inner_threshold=0.45, context_margin=0.06)
    gallery = Gallery(rule=rule)
    gallery.add("p", p_whole[None], p_inner[None])
    gallery.add("q", q_whole[None], q_inner[None])
    # Own video: inner and whole faces both near p's.
    own = gallery.match_track(near(p_whole + 0.2 * axes[9]), inner=near(p_inner + 0.2 * axes[8]))
    assert own.person_id == "p" and own.region == "inner" and own.certain
    assert own.context_agrees and own.whole_distance == pytest.approx(0.2, abs=0.03)
    # A swap: p's inner face, the whole face pulled toward another head.
    swap = gallery.match_track(near(p_whole + 0.45 * axes[9]),
                               inner=near(p_inner + 0.3 * axes[8]))
    assert swap.person_id == "p" and swap.certain and swap.context_agrees is False
    assert swap.whole_distance - swap.distance > 0.06
    # Without inner faces the whole faces decide, with the whole-face rule.
    whole_only = gallery.match_track(near(p_whole + 0.2 * axes[9]))
    assert whole_only.region == "whole" and whole_only.context_agrees is None
    # A person enrolled before inner faces were described is still matched by whole faces.
    legacy = Gallery(rule=rule)
    legacy.add("p", p_whole[None], p_inner[None])
    legacy.add("old", q_whole[None])
    old = legacy.match_track(near(q_whole + 0.2 * axes[9]), inner=near(q_inner))
    assert old.person_id == "old" and old.region == "whole"
    with pytest.raises(ValueError, match="do not pair"):
        gallery.add("r", p_whole[None], np.zeros((2, 128), np.float32))
