"""The learned occlusion segmenter: loads, runs on real faces, finds a pasted occluder."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest

from moderation.errors import ConfigError
from moderation.learned.faces import list_faces, split_of
from moderation.learned.occlusion import WEIGHTS, OcclusionNet
from moderation.synth.generator import FakeGenerator, OcclusionSegmenter, build_segmenter
from moderation.weights import file_digest
from tests.conftest import LFW, LFW_PEOPLE


def _check_map(occlusion, face):
    assert occlusion.dtype == np.float32 and occlusion.shape == face.shape[:2]
    assert 0.0 <= occlusion.min() and occlusion.max() <= 1.0


def test_runs_on_any_size_and_follows_the_protocol(occlusion_net, astronaut, framed):
    segmenter: OcclusionSegmenter = occlusion_net  # the protocol is not runtime-checkable
    assert occlusion_net.name == "occlusion-unet-v1"
    for face in (astronaut, framed[0], framed[0][:200, :150]):
        _check_map(segmenter(face), face)


@pytest.mark.shared
def test_runs_on_an_lfw_photo(occlusion_net):
    if not LFW.is_dir():
        pytest.skip(f"{LFW} is absent: the real faces of ../shared are needed")
    photo = cv2.imread(str(next((LFW / LFW_PEOPLE[0]).glob("*.jpg"))))
    occlusion = occlusion_net(photo)
    _check_map(occlusion, photo)
    assert (occlusion > 0.5).mean() < 0.1  # an unoccluded portrait is mostly "not occluded"


def test_finds_a_grey_rectangle_over_the_face(occlusion_net, framed):
    face = framed[0].copy()
    truth = np.zeros(face.shape[:2], bool)
    truth[110:165, 85:175] = True
    face[truth] = 128
    predicted = occlusion_net(face) > 0.5
    iou = (predicted & truth).sum() / (predicted | truth).sum()
    assert iou > 0.5, f"IoU {iou:.2f}"


def test_never_grows_the_generator_mask(occlusion_net, framed, detector):
    image, landmarks = framed
    plain = FakeGenerator(mode="self", detector=detector)
    learned = FakeGenerator(mode="self", detector=detector, occlusion_model=occlusion_net)
    for seed in range(3):
        kwargs = {"seed": seed, "source_landmarks": landmarks, "framed": True}
        without = plain.make(image, **kwargs)
        with_net = learned.make(image, **kwargs)
        assert (with_net.mask <= without.mask + 1e-6).all()
        assert with_net.recipe.occlusion == {"kind": "model", "name": "occlusion-unet-v1",
                                             "weights": file_digest(WEIGHTS)}


def test_a_replay_with_other_occlusion_weights_is_refused_naming_both(occlusion_net, framed,
                                                                     detector):
    image, landmarks = framed
    generator = FakeGenerator(mode="self", detector=detector, occlusion_model=occlusion_net)
    kwargs = {"source_landmarks": landmarks, "framed": True}
    made = generator.make(image, seed=1, **kwargs)
    assert occlusion_net.digest.startswith("sha256:") and len(occlusion_net.digest) == 7 + 16
    again = generator.replay(made.recipe, image, **kwargs)
    np.testing.assert_array_equal(again.fake, made.fake)
    recipe = replace(made.recipe, occlusion={**made.recipe.occlusion, "weights": "sha256:0"})
    with pytest.raises(ConfigError, match=f"of weights sha256:0; this generator's are "
                                          f"{occlusion_net.digest}"):
        generator.replay(recipe, image, **kwargs)
    # A recipe made before recipes recorded weights still replays.
    old = replace(made.recipe, occlusion={"kind": "model", "name": "occlusion-unet-v1"})
    np.testing.assert_array_equal(generator.replay(old, image, **kwargs).fake, made.fake)


def test_chosen_by_the_name_its_recipes_record(framed, detector):
    image, landmarks = framed
    by_name = FakeGenerator(mode="self", detector=detector, occlusion_model="occlusion-unet-v1")
    assert isinstance(by_name.occlusion_model, OcclusionNet)
    made = by_name.make(image, seed=0, source_landmarks=landmarks, framed=True)
    assert build_segmenter(made.recipe.occlusion["name"]).name == "occlusion-unet-v1"
    with pytest.raises(ConfigError, match=r"'unet-v9' is unknown; choose one of \['occlusion-"):
        FakeGenerator(occlusion_model="unet-v9")


def test_validation_split_is_stable_and_identity_disjoint(tmp_path):
    """The split is a function of the name alone, the same in every process and release:
    these are the validation people of the shipped weights. A comparison within one process
    would pass with Python's ``hash()`` too, which is salted per process."""
    validation = [i for i in range(100) if split_of(f"person_{i}") == "val"]
    assert validation == [26, 40, 61, 82, 83, 96]
    assert split_of("Abdullah_Gul") == "val" and split_of("Aaron_Eckhart") == "train"
    for person in ("person_0", "person_26", "Abdullah_Gul", "Al_Gore"):
        (tmp_path / person).mkdir()
        for photo in range(2):
            (tmp_path / person / f"{person}_{photo:04d}.jpg").touch()
    people = {split: {path.parent.name for path in list_faces(tmp_path, split)}
              for split in ("train", "val")}
    assert people == {"train": {"person_0", "Al_Gore"}, "val": {"person_26", "Abdullah_Gul"}}
