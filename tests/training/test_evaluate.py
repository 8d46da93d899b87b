"""Evaluation: labeled inputs, hand-checked metrics, written files, and the shortcut check.

The detector is not needed: ``StandInScorer`` returns scores fixed in advance per file name, and
``StandInBlurFlagger`` flags crops that lack fine detail.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from moderation.detector.scores import MediaScore
from moderation.errors import ConfigError, CorruptVideo, NoFaceFound
from moderation.images import IMAGE_SUFFIXES
from moderation.training.evaluate import (
    DEGRADATIONS,
    LabeledItem,
    evaluate,
    load_labeled,
    shortcut_check,
)
from moderation.training.plots import save_rounds

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class StandInScorer:
    """A stand-in for the detector: ``table`` maps a file name to (score, frame scores); a score
    of None means no face was found. Names in ``raises`` raise that error instead."""

    def __init__(self, table: dict[str, tuple[float | None, list[float]]], threshold: float = 0.5,
                 raises: dict[str, Exception] | None = None):
        self.table = table
        self.threshold = threshold
        self.raises = raises or {}
        self.calls: list[tuple[str, bool]] = []

    def score_crops(self, crops: list[np.ndarray]) -> np.ndarray:
        raise AssertionError("evaluate scores paths, not crops")

    def score_path(self, path: str, crops: bool = False) -> MediaScore:
        self.calls.append((path, crops))
        name = Path(path).name
        if name in self.raises:
            raise self.raises[name]
        score, frames = self.table[name]
        if score is None:
            return MediaScore(path, None, "no_face", 0)
        label = "fake" if score >= self.threshold else "real"
        return MediaScore(path, score, label, faces=1, frame_scores=list(frames))


class StandInBlurFlagger:
    """A stand-in for a detector with a blur shortcut: a crop whose Laplacian variance is low
    (little fine detail) is called fake."""

    threshold = 0.5

    def __init__(self, sharpness: float):
        self.sharpness = sharpness

    def score_crops(self, crops: list[np.ndarray]) -> np.ndarray:
        detail = [cv2.Laplacian(cv2.cvtColor(c, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var()
                  for c in crops]
        return np.array([0.9 if d < self.sharpness else 0.1 for d in detail])

    def score_path(self, path: str, crops: bool = False) -> MediaScore:
        raise AssertionError("the shortcut check scores crops, not paths")


def items_of(names: list[str]) -> list[LabeledItem]:
    groups = {"real": 0, "fake": 1, "reenact": 1}
    result = []
    for name in names:
        group = name.split("_")[0]
        result.append(LabeledItem(Path(name), groups[group], group))
    return result


# Three real and three fake items. Video level (one score each):
#   real 0.1, 0.4, 0.6   fake 0.3, 0.7, 0.9
#   AUC = share of (fake, real) pairs ranked right: 0.3 beats 1, 0.7 beats 3, 0.9 beats 3 -> 7/9.
#   AP: by score down: 0.9 F, 0.7 F, 0.6 R, 0.4 R, 0.3 F, 0.1 R; precision at each fake:
#       1/1, 2/2, 3/5; each fake adds 1/3 recall -> AP = (1 + 1 + 3/5) / 3 = 13/15.
#   At threshold 0.5: real flagged 0.6 -> 1/3; fakes caught 0.7, 0.9 -> 2/3.
# Frame level (frame scores labeled by their item):
#   real 0.1, 0.2, 0.4, 0.6   fake 0.3, 0.7, 0.9, 0.5
#   AUC: 0.3 beats 2, 0.5 beats 3, 0.7 beats 4, 0.9 beats 4 -> 13/16.
#   AP: 0.9 F, 0.7 F, 0.6 R, 0.5 F, 0.4 R, 0.3 F, 0.2 R, 0.1 R; precision at each fake
#       1, 1, 3/4, 4/6 -> AP = (1 + 1 + 3/4 + 2/3) / 4 = 41/48.
SWAP_TABLE = {
    "real_a.mp4": (0.1, [0.1, 0.2]),
    "real_b.mp4": (0.4, [0.4]),
    "real_c.mp4": (0.6, [0.6]),
    "fake_a.mp4": (0.3, [0.3]),
    "fake_b.mp4": (0.7, [0.7]),
    "fake_c.mp4": (0.9, [0.9, 0.5]),
}
# Reenactment against the same reals: reenact 0.05 beats none, 0.5 beats 0.1 and 0.4 -> AUC 2/6.
#   AP: 0.6 R, 0.5 E, 0.4 R, 0.1 R, 0.05 E; precision at each: 1/2, 2/5 -> (1/2 + 2/5) / 2 = 9/20.
#   Caught at 0.5 (score >= threshold): 0.5 -> 1/2.
REENACT_TABLE = {"reenact_a.mp4": (0.05, [0.05]), "reenact_b.mp4": (0.5, [0.5])}


def test_swap_metrics_match_the_hand_computed_ones():
    scorer = StandInScorer(SWAP_TABLE)
    report = evaluate(scorer, items_of(list(SWAP_TABLE)), crops=False)
    swap = report["tasks"]["swap"]
    assert swap["video"]["auc"] == pytest.approx(7 / 9)
    assert swap["video"]["ap"] == pytest.approx(13 / 15)
    assert (swap["video"]["positives"], swap["video"]["negatives"]) == (3, 3)
    assert swap["frame"]["auc"] == pytest.approx(13 / 16)
    assert swap["frame"]["ap"] == pytest.approx(41 / 48)
    assert (swap["frame"]["positives"], swap["frame"]["negatives"]) == (4, 4)
    assert swap["real_flagged"] == pytest.approx(1 / 3)
    assert swap["real_frames_flagged"] == pytest.approx(1 / 4)  # 0.6 of 0.1, 0.2, 0.4, 0.6
    assert swap["caught"] == pytest.approx(2 / 3)
    assert report["threshold"] == 0.5
    assert all(crops is False for _, crops in scorer.calls)


def test_a_bar_counts_the_items_on_stderr_when_there_are_several(capsys):
    """On stderr at a terminal or not (a run's log shows how far it got); none for one item."""
    evaluate(StandInScorer(SWAP_TABLE), items_of(list(SWAP_TABLE)), crops=False)
    shown = capsys.readouterr().err.replace("\r", "\n").splitlines()
    count = len(SWAP_TABLE)
    assert any(line.startswith("evaluating: 100%") and f"{count}/{count}" in line
               for line in shown), shown
    evaluate(StandInScorer(SWAP_TABLE), items_of(["real_a.mp4"]), crops=False)
    assert "evaluating" not in capsys.readouterr().err


def test_threshold_argument_overrides_the_scorers():
    report = evaluate(StandInScorer(SWAP_TABLE), items_of(list(SWAP_TABLE)), crops=True,
                      threshold=0.35)
    # real 0.4 and 0.6 are at or above 0.35; so are all three fakes but 0.3.
    assert report["tasks"]["swap"]["real_flagged"] == pytest.approx(2 / 3)
    assert report["tasks"]["swap"]["caught"] == pytest.approx(2 / 3)
    assert report["crops"] is True


def test_reenactment_is_reported_apart_and_leaves_swap_alone():
    table = {**SWAP_TABLE, **REENACT_TABLE}
    report = evaluate(StandInScorer(table), items_of(list(table)), crops=False)
    swap, reenact = report["tasks"]["swap"], report["tasks"]["reenact"]
    assert swap["video"]["auc"] == pytest.approx(7 / 9)
    assert swap["video"]["ap"] == pytest.approx(13 / 15)
    assert swap["video"]["positives"] == 3
    assert reenact["video"]["auc"] == pytest.approx(2 / 6)
    assert reenact["video"]["ap"] == pytest.approx(9 / 20)
    assert reenact["caught"] == pytest.approx(1 / 2)
    assert reenact["real_flagged"] == pytest.approx(1 / 3)
    assert report["counts"]["by_group"]["reenact"]["items"] == 2


def test_items_without_a_face_are_counted_and_excluded():
    table = {**SWAP_TABLE, "fake_noface.mp4": (None, []), "real_noface.jpg": (None, []),
             "fake_gone.mp4": (0.0, []), "real_raise.mp4": (0.0, [])}
    raises = {"fake_gone.mp4": CorruptVideo("fake_gone.mp4", "truncated"),
              "real_raise.mp4": NoFaceFound("real_raise.mp4", "no face")}
    report = evaluate(StandInScorer(table, raises=raises), items_of(list(table)), crops=False)
    assert report["tasks"]["swap"]["video"]["auc"] == pytest.approx(7 / 9)
    assert report["tasks"]["swap"]["video"]["positives"] == 3
    assert report["tasks"]["swap"]["real_flagged"] == pytest.approx(1 / 3)
    counts = report["counts"]
    assert (counts["items"], counts["scored"], counts["no_face"], counts["failed"]) == (10, 6, 3, 1)
    assert counts["by_group"]["real"]["no_face"] == 2
    assert counts["by_group"]["fake"] == {"items": 5, "scored": 3, "no_face": 1, "failed": 1}
    assert "no face" in report["excluded"]
    rows = {Path(row["path"]).name: row for row in report["items"]}
    assert rows["fake_noface.mp4"]["score"] is None and rows["fake_noface.mp4"]["faces"] == 0
    assert rows["fake_gone.mp4"]["error"].startswith("corrupt")
    assert rows["real_c.mp4"] == {"path": "real_c.mp4", "group": "real", "score": 0.6,
                                  "flagged": True, "faces": 1, "frames": 1, "error": None}


def test_one_class_gives_none_metrics_not_a_crash(tmp_path):
    reals = {name: value for name, value in SWAP_TABLE.items() if name.startswith("real")}
    report = evaluate(StandInScorer(reals), items_of(list(reals)), crops=False, out_dir=tmp_path)
    swap = report["tasks"]["swap"]
    assert swap["video"]["auc"] is None and swap["frame"]["ap"] is None
    assert swap["caught"] is None
    assert swap["real_flagged"] == pytest.approx(1 / 3)
    assert (tmp_path / "roc.png").read_bytes().startswith(PNG_MAGIC)


def test_bad_threshold_and_empty_items_are_config_errors():
    with pytest.raises(ConfigError, match="threshold"):
        evaluate(StandInScorer(SWAP_TABLE), items_of(list(SWAP_TABLE)), False, threshold=1.5)
    with pytest.raises(ConfigError, match="nothing to evaluate"):
        evaluate(StandInScorer(SWAP_TABLE), [], False)


def test_report_and_curves_are_written(tmp_path):
    table = {**SWAP_TABLE, **REENACT_TABLE}
    out = tmp_path / "eval"
    report = evaluate(StandInScorer(table), items_of(list(table)), crops=False, out_dir=out)
    assert json.loads((out / "report.json").read_text()) == report
    for name in ("roc.png", "pr.png"):
        assert (out / name).read_bytes().startswith(PNG_MAGIC)
    assert sorted(p.name for p in out.iterdir()) == ["pr.png", "report.json", "roc.png"]


def test_rounds_plot_is_written(tmp_path):
    path = tmp_path / "rounds.png"
    save_rounds([{"round": 1, "auc": 0.7, "ap": 0.6}, {"round": 2, "auc": 0.8, "ap": None}], path)
    assert path.read_bytes().startswith(PNG_MAGIC)


# ---------------------------------------------------------------------------- loaders


def touch(folder: Path, *names: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"")


def test_folder_labels_by_name_prefix(tmp_path):
    touch(tmp_path, "real_a.mp4", "fake_b.MOV", "reenact_c.webm", "real_d.jpg", "fake_e.png",
          "README.md", ".hidden.mp4")
    items = {item.path.name: item for item in load_labeled(tmp_path)}
    assert set(items) == {"real_a.mp4", "fake_b.MOV", "reenact_c.webm", "real_d.jpg",
                          "fake_e.png"}
    assert (items["real_a.mp4"].label, items["real_a.mp4"].group) == (0, "real")
    assert (items["fake_b.MOV"].label, items["fake_b.MOV"].group) == (1, "fake")
    assert (items["reenact_c.webm"].label, items["reenact_c.webm"].group) == (1, "reenact")


def test_folder_takes_every_photo_the_detector_scores(tmp_path):
    """One set of photo suffixes: what ``moderation score`` reads as a photo is evaluated too."""
    touch(tmp_path, *(f"real_{number}{suffix}" for number, suffix
                      in enumerate(sorted(IMAGE_SUFFIXES))))
    assert len(load_labeled(tmp_path)) == len(IMAGE_SUFFIXES) == 5


def test_folder_with_an_unlabeled_video_names_it(tmp_path):
    touch(tmp_path, "real_a.mp4", "holiday.mp4")
    with pytest.raises(ConfigError, match="holiday.mp4"):
        load_labeled(tmp_path)


def test_folder_labels_by_sub_folder(tmp_path):
    touch(tmp_path / "real", "x-000.png", "x-001.png")
    touch(tmp_path / "fake", "y-000.png", "notes.txt")
    items = load_labeled(tmp_path)
    assert [(item.path.name, item.label, item.group) for item in items] == [
        ("x-000.png", 0, "real"), ("x-001.png", 0, "real"), ("y-000.png", 1, "fake")]


def test_empty_or_missing_folder_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="no labeled"):
        load_labeled(tmp_path)
    with pytest.raises(ConfigError, match="no such"):
        load_labeled(tmp_path / "absent")


def test_csv_labels_groups_and_relative_paths(tmp_path):
    touch(tmp_path / "media", "a.mp4", "b.png", "c.mkv", "d.avi")
    absolute = tmp_path / "media" / "d.avi"
    (tmp_path / "list.csv").write_text(
        "path,label,group\n"
        "media/a.mp4,real,\n"
        "media/b.png,1,\n"
        "media/c.mkv,FAKE,reenact\n"
        f"{absolute},0,real\n")
    items = load_labeled(tmp_path / "list.csv")
    assert [(item.path, item.label, item.group) for item in items] == [
        (tmp_path / "media" / "a.mp4", 0, "real"),
        (tmp_path / "media" / "b.png", 1, "fake"),
        (tmp_path / "media" / "c.mkv", 1, "reenact"),
        (absolute, 0, "real")]


def test_csv_without_group_column(tmp_path):
    touch(tmp_path, "a.mp4")
    (tmp_path / "list.csv").write_text("path,label\na.mp4,fake\n")
    assert load_labeled(tmp_path / "list.csv") == [LabeledItem(tmp_path / "a.mp4", 1, "fake")]


@pytest.mark.parametrize(("row", "message"), [
    ("a.mp4,maybe", r"list.csv:3: label 'maybe'"),
    ("missing.mp4,real", r"list.csv:3: .*missing.mp4 does not exist"),
    ("a.mp4,real,reenact", r"list.csv:3: group 'reenact' needs label 1"),
    ("a.mp4,fake,morph", r"list.csv:3: group 'morph'"),
    ("notes.txt,real", r"list.csv:3: notes.txt is neither"),
])
def test_bad_csv_rows_name_the_line(tmp_path, row, message):
    touch(tmp_path, "a.mp4", "notes.txt")
    (tmp_path / "list.csv").write_text(f"path,label,group\na.mp4,real,\n{row}\n")
    with pytest.raises(ConfigError, match=message):
        load_labeled(tmp_path / "list.csv")


def test_csv_without_the_needed_columns(tmp_path):
    (tmp_path / "list.csv").write_text("file,truth\na.mp4,real\n")
    with pytest.raises(ConfigError, match=r"list.csv:1: needs a header"):
        load_labeled(tmp_path / "list.csv")


# ---------------------------------------------------------------------------- shortcut check


@pytest.fixture(scope="module")
def sharp_crops() -> list[np.ndarray]:
    """Textured stand-ins for real face crops: random noise, full of fine detail."""
    rng = np.random.default_rng(7)
    return [rng.integers(0, 256, (side, side, 3), dtype=np.uint8) for side in (96, 128, 160)]


def test_shortcut_check_reports_a_share_per_degradation(sharp_crops):
    class StandInConstant:
        threshold = 0.5

        def score_crops(self, crops):
            return np.full(len(crops), 0.2)

    result = shortcut_check(StandInConstant(), sharp_crops, threshold=0.5, seed=1)
    assert set(result["flagged"]) == set(DEGRADATIONS) == {"none", "downscale", "blur", "jpeg"}
    assert all(0.0 <= share <= 1.0 for share in result["flagged"].values())
    assert result["passed"] is True and result["images"] == 3


def test_shortcut_check_catches_a_blur_shortcut(sharp_crops):
    result = shortcut_check(StandInBlurFlagger(sharpness=2000.0), sharp_crops, threshold=0.5)
    assert result["flagged"]["none"] == 0.0
    assert result["flagged"]["blur"] == 1.0
    assert result["within_aim"]["blur"] is False and result["passed"] is False


def test_shortcut_check_is_seeded(sharp_crops):
    seen = []

    class StandInRecorder:
        threshold = 0.5

        def score_crops(self, crops):
            seen.append([crop.copy() for crop in crops])
            return np.zeros(len(crops))

    shortcut_check(StandInRecorder(), sharp_crops, 0.5, seed=3)
    shortcut_check(StandInRecorder(), sharp_crops, 0.5, seed=3)
    half = len(seen) // 2
    for first, second in zip(seen[:half], seen[half:], strict=True):
        assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    downscaled = seen[list(DEGRADATIONS).index("downscale")]
    assert [c.shape for c in downscaled] == [c.shape for c in sharp_crops]


def test_shortcut_check_refuses_bad_crops():
    with pytest.raises(ConfigError, match="at least one"):
        shortcut_check(StandInBlurFlagger(1.0), [], 0.5)
    with pytest.raises(ConfigError, match="real crop 0"):
        shortcut_check(StandInBlurFlagger(1.0), [np.zeros((8, 8), np.float32)], 0.5)
