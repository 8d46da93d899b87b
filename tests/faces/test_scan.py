"""From a video file to tracked face crops, on the shared real clips and on encoded ones."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from moderation.config import Settings
from moderation.faces.scan import FaceScanner
from tests.conftest import SHARED
from tests.video.conftest import encode

VIDEOS = SHARED / "data" / "videos"


@pytest.fixture(scope="module")
def scanner():
    return FaceScanner(Settings())


def _needs_videos():
    if not VIDEOS.is_dir():
        pytest.skip(f"{VIDEOS} is absent: the shared clips are needed")


@pytest.mark.parametrize("name", ["real_ffpp_c23_004.mp4", "fake_ffpp_c23_faceswap_634_660.mp4",
                                  "real_hamilton_640x360.mp4"])
def test_faces_in_nearly_every_frame_of_the_real_clips(scanner, name):
    _needs_videos()
    result = scanner.scan(VIDEOS / name)
    assert len(result.frames) == 32
    with_faces = sum(1 for faces in result.faces if faces)
    assert with_faces >= 0.95 * 32, f"faces in {with_faces} of 32 frames"


def test_the_presenter_is_one_long_track(scanner):
    _needs_videos()
    result = scanner.scan(VIDEOS / "real_ffpp_c23_004.mp4")
    main = max(result.tracks, key=lambda track: len(track.faces))
    assert len(main.faces) >= 30 and main.end - main.start > 11
    crops = [face.crop for face in result.track_faces(main.id)]
    assert crops[0].shape == (224, 224, 3)


def test_no_faces_in_a_clip_without_faces(scanner, tmp_path):
    result = scanner.scan(encode(tmp_path / "plain.mp4", count=20, width=320, height=240),
                          count=5)
    assert [faces for faces in result.faces] == [[]] * 5 and result.tracks == []


def _faces_command(*args):
    return subprocess.run([sys.executable, "-m", "moderation", "faces", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def test_command_prints_json_lines_and_saves_crops(tmp_path):
    _needs_videos()
    result = _faces_command(VIDEOS / "real_ffpp_c23_634.mp4", "--jsonl", "--frames", "4",
                            "--save-crops", tmp_path / "crops")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 4 and lines[0]["t"] < lines[1]["t"]
    face = lines[0]["faces"][0]
    assert set(face) == {"box", "score", "track"} and len(face["box"]) == 4
    assert len(list((tmp_path / "crops").glob("track*.png"))) == sum(len(x["faces"]) for x in lines)


def test_command_reports_a_corrupt_file_without_a_traceback(tmp_path):
    broken = tmp_path / "upload.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(2000))
    result = _faces_command(broken)
    assert result.returncode == 2
    assert "upload.mp4" in result.stderr and "Traceback" not in result.stderr
