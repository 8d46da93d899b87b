"""The evaluation cache (`moderation devset`): every labeled item's face crops extracted once,
with a bar over the items, and scored from the cache as from the files."""

from __future__ import annotations

import json

import cv2

from moderation import cli
from moderation.detector.checkpoint import DEFAULT_CHECKPOINT, load_checkpoint
from moderation.detector.registry import build_model
from moderation.training.devset import MANIFEST, CachedScorer, split_items
from tests.video.conftest import still_clip


def test_the_command_caches_every_item_with_a_bar_over_them(astronaut, tmp_path, capsys):
    crops = tmp_path / "crops"
    for group, image in (("real", astronaut), ("fake", astronaut[:, ::-1])):
        (crops / group).mkdir(parents=True)
        cv2.imwrite(str(crops / group / f"{group}_face.png"), cv2.resize(image, (160, 160)))
    videos = tmp_path / "videos"
    still_clip(videos / "real_still.mp4", astronaut)
    out = tmp_path / "devset"
    assert cli.main(["devset", str(crops), str(videos), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    shown = captured.err.replace("\r", "\n").splitlines()
    assert any(line.startswith("devset: 100%") and "3/3" in line for line in shown), shown
    assert "cached the face crops of 3 items" in shown[-1]

    entries = {e["name"]: e for e in json.loads((out / MANIFEST).read_text())}
    assert {name: e["kind"] for name, e in entries.items()} == {
        "real_face.png": "crop", "fake_face.png": "crop", "real_still.mp4": "video"}
    video = entries["real_still.mp4"]
    assert video["faces"] and all((out / face["file"]).is_file() for face in video["faces"])
    config, state, _ = load_checkpoint(DEFAULT_CHECKPOINT)
    model = build_model(config.model, pretrained=False)
    model.load_state_dict(state)
    scorer = CachedScorer(out, model.eval(), config)
    videos_found, crops_found = split_items(scorer.items())
    assert [item.path.name for item in videos_found] == ["real_still.mp4"]
    assert len(crops_found) == 2
    assert scorer.score_path("real_still.mp4").faces == len(video["faces"])


def test_one_item_gets_no_bar(astronaut, tmp_path, capsys):
    (tmp_path / "media").mkdir()
    cv2.imwrite(str(tmp_path / "media" / "real_face.png"), astronaut)
    assert cli.main(["devset", str(tmp_path / "media"), "--out", str(tmp_path / "out")]) == 0
    assert "devset:" not in capsys.readouterr().err


def test_a_bad_source_is_reported_before_anything_is_written(tmp_path, capsys):
    assert cli.main(["devset", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")]) == 2
    assert "nowhere: no such file or folder" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()

