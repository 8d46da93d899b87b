"""From a video file to tracked face crops, on the shared real clips and on encoded ones."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from moderation import cli
from moderation.config import Settings
from moderation.faces.scan import FaceScanner
from tests.conftest import SHARED
from tests.video.conftest import encode, still_clip

VIDEOS = SHARED / "data" / "videos"


@pytest.fixture(scope="module")
def scanner():
    return FaceScanner(Settings())


def _needs_videos():
    if not VIDEOS.is_dir():
        pytest.skip(f"{VIDEOS} is absent: the shared clips are needed")


@pytest.mark.shared
@pytest.mark.parametrize("name", ["real_ffpp_c23_004.mp4", "fake_ffpp_c23_faceswap_634_660.mp4",
                                  "real_hamilton_640x360.mp4"])
def test_faces_in_nearly_every_frame_of_the_real_clips(scanner, name):
    _needs_videos()
    result = scanner.scan(VIDEOS / name)
    assert len(result.frames) == 32
    with_faces = sum(1 for faces in result.faces if faces)
    assert with_faces >= 0.95 * 32, f"faces in {with_faces} of 32 frames"


@pytest.mark.shared
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


@pytest.mark.slow
@pytest.mark.shared
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


@pytest.mark.shared
def test_tracks_get_identities_and_match_an_enrolled_person(scanner, tmp_path):
    """Enrol the presenter of one clip from his first seconds; his track matches him, and the
    presenter of another clip matches nobody."""
    _needs_videos()
    from moderation.faces.identity import Gallery

    first = scanner.scan(VIDEOS / "real_ffpp_c23_004.mp4", keep_crops=False, with_landmarks=True)
    face = first.faces[0][0]
    assert face.landmarks.shape == (68, 2)
    x1, y1, x2, y2 = face.detection.box
    inside = ((face.landmarks >= [x1 - 20, y1 - 20]) & (face.landmarks <= [x2 + 20, y2 + 20]))
    assert inside.all()
    descriptors = scanner.describe_tracks(first)
    presenter = max(first.tracks, key=lambda track: len(track.faces)).id
    assert descriptors[presenter].shape == (128,)
    gallery = Gallery(threshold=0.6)
    gallery.add("presenter-004", descriptors[presenter][None])
    again = scanner.scan(VIDEOS / "real_ffpp_c23_004.mp4", count=6, keep_crops=False)
    matches = scanner.identify(again, gallery)
    main = max(again.tracks, key=lambda track: len(track.faces)).id
    assert matches[main] is not None and matches[main].person_id == "presenter-004"
    other = scanner.scan(VIDEOS / "real_ffpp_c23_634.mp4", count=6, keep_crops=False)
    other_main = max(other.tracks, key=lambda track: len(track.faces)).id
    assert scanner.identify(other, gallery)[other_main] is None


def test_several_videos_get_a_bar_and_lines_that_name_them(astronaut, tmp_path, capsys):
    first = still_clip(tmp_path / "first.mp4", astronaut)
    second = still_clip(tmp_path / "other" / "second.mp4", astronaut[:, ::-1].copy())
    crops = tmp_path / "crops"
    code = cli.main(["faces", str(first), str(tmp_path / "nowhere.mp4"), str(second),
                     "--jsonl", "--frames", "3", "--save-crops", str(crops)])
    out, err = capsys.readouterr()
    assert code == 2  # the missing one; the others were scanned
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["video"] for line in lines] == [str(first)] * 3 + [str(second)] * 3
    assert all(len(line["faces"]) == 1 for line in lines)
    shown = err.replace("\r", "\n").splitlines()
    assert any(line.startswith("faces: 100%") and "3/3" in line for line in shown), shown
    assert "error: " in err and "nowhere.mp4" in err
    for video in (first, second):  # DIR/<video name>/ each
        assert len(list((crops / video.stem).glob("track*.png"))) == 3


def test_one_video_prints_its_lines_as_before_and_no_bar(astronaut, tmp_path, capsys):
    clip = still_clip(tmp_path / "one.mp4", astronaut)
    assert cli.main(["faces", str(clip), "--jsonl", "--frames", "2",
                     "--save-crops", str(tmp_path / "crops")]) == 0
    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == 2 and all(set(line) == {"t", "faces"} for line in lines)
    assert len(list((tmp_path / "crops").glob("track*.png"))) == 2
    assert "faces: " not in err


def test_several_videos_of_one_name_cannot_share_a_crops_folder(tmp_path, capsys):
    code = cli.main(["faces", str(tmp_path / "a" / "clip.mp4"), str(tmp_path / "b" / "clip.mp4"),
                     "--save-crops", str(tmp_path / "crops")])
    assert code == 2 and "the same name" in capsys.readouterr().err
