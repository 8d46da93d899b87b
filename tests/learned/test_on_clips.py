"""The occlusion net on a real clip's faces: numbers per clip and a picture."""

from __future__ import annotations

import cv2
import pytest

from moderation.config import Settings
from moderation.faces.scan import FaceScanner
from moderation.learned import on_clips
from tests.conftest import SHARED

CLIP = SHARED / "data" / "videos" / "real_ffpp_c23_634.mp4"


@pytest.fixture(scope="module")
def clip():
    if not CLIP.is_file():
        pytest.skip(f"{CLIP} is absent: a real clip of ../shared is needed")
    return CLIP


@pytest.mark.shared
def test_scans_a_real_clip_and_saves_a_picture(clip, occlusion_net, tmp_path):
    (result,) = on_clips.occlusion_on_clips([clip], occlusion_net, FaceScanner(Settings()),
                                            examples=3)
    assert result.faces >= 30 and len(result.examples) == 3
    # a studio presenter with nothing in front of her face: little is marked
    assert 0.0 <= result.marked_share < 0.1
    out = tmp_path / "clips.png"
    assert on_clips.main([str(clip), "--out", str(out), "--examples", "2"]) == 0
    picture = cv2.imread(str(out))
    assert picture.shape[1] == 2 * 2 * on_clips.TILE


def test_a_missing_or_broken_video_is_a_clear_error(tmp_path, capsys):
    assert on_clips.main([str(tmp_path / "nothing.mp4")]) == 2
    assert "no such video" in capsys.readouterr().err
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    assert on_clips.main([str(broken), "--out", str(tmp_path / "x.png")]) == 2
    assert "broken.mp4" in capsys.readouterr().err


@pytest.mark.shared
def test_missing_weights_are_a_clear_error(clip, tmp_path, capsys):
    assert on_clips.main([str(clip), "--weights", str(tmp_path / "none.pt")]) == 2
    assert "none.pt" in capsys.readouterr().err
