"""A synthetic swap video: one LFW face in every frame of a shared real clip, with its recipe."""

from __future__ import annotations

import json

import av
import numpy as np
import pytest

from moderation.errors import InputError
from moderation.synth.video import swap_video
from tests.conftest import SHARED

pytestmark = pytest.mark.shared

CLIP = SHARED / "data" / "videos" / "real_ffpp_c23_634.mp4"
FACE = SHARED / "data" / "faces" / "lfw" / "Al_Gore" / "Al_Gore_0001.jpg"


def frames_of(path, count):
    with av.open(str(path)) as container:
        out = []
        for frame in container.decode(video=0):
            out.append(frame.to_ndarray(format="bgr24").astype(np.int16))
            if len(out) == count:
                return out
    return out


@pytest.mark.slow
def test_a_face_is_put_into_every_frame_and_the_recipe_kept(tmp_path):
    if not (CLIP.is_file() and FACE.is_file()):
        pytest.skip(f"{CLIP} or {FACE} is absent: the shared data is needed")
    made = swap_video(FACE, CLIP, tmp_path / "swap.mp4", seed=3, seconds=1.0)
    assert made.frames == 25 and made.swapped == 25
    saved = json.loads(made.recipe_path.read_text())
    assert saved["recipe"]["seed"] == 3 and saved["recipe"]["source"] == str(FACE)
    assert saved["swapped_frames"] == 25 and saved["recipe"]["ops"]
    swapped, original = frames_of(made.path, 5), frames_of(CLIP, 5)
    assert len(swapped) == 5 and swapped[0].shape == original[0].shape
    change = np.abs(swapped[2] - original[2]).mean(axis=2)
    height, width = change.shape
    # The face (middle of this clip) changed; the frame's corners are the clip's (H.264 noise).
    assert change[height // 4: 3 * height // 4, width // 4: 3 * width // 4].max() > 60
    assert change[: height // 8, : width // 8].mean() < 4
    again = swap_video(FACE, CLIP, tmp_path / "again.mp4", seed=3, seconds=1.0)
    assert json.loads(again.recipe_path.read_text())["recipe"] == saved["recipe"]


def test_a_clip_without_a_face_is_named(tmp_path):
    from tests.video.conftest import encode

    faceless = encode(tmp_path / "grey.mp4", count=10, width=128, height=96)
    if not FACE.is_file():
        pytest.skip(f"{FACE} is absent: the shared data is needed")
    with pytest.raises(InputError, match="no face in its first"):
        swap_video(FACE, faceless, tmp_path / "out.mp4", seed=0, seconds=1.0)
