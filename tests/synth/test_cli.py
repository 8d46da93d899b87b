"""``moderation synth`` end to end, as a user runs it, on real faces."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from moderation.synth.registry import registered_ops


def synth(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "moderation", "synth", *args],
                            capture_output=True, text=True, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}\n{result.stderr}")
    return result


def _files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_list_prints_every_operation():
    lines = synth("--list").stdout.splitlines()
    assert lines == [f"{op.step}\t{op.name}" for op in registered_ops()]
    assert "fusion\tpoisson" in lines and "colour\tpdf_transfer" in lines


@pytest.fixture(scope="module")
def lfw_run(lfw_subset, tmp_path_factory):
    out = tmp_path_factory.mktemp("fakes")
    result = synth("--real", str(lfw_subset), "--out", str(out), "--count", "6", "--seed", "9",
                   "--size", "128")
    return out, result


def test_writes_fakes_masks_recipes_and_preview(lfw_run):
    out, result = lfw_run
    names = [f"{i:06d}.png" for i in range(6)]
    assert sorted(p.name for p in (out / "images").iterdir()) == names
    assert sorted(p.name for p in (out / "masks").iterdir()) == names
    recipes = [json.loads(line) for line in (out / "recipes.jsonl").read_text().splitlines()]
    assert [r["extra"]["image"] for r in recipes] == [f"images/{n}" for n in names]
    for recipe in recipes:
        assert recipe["source"].split("/")[0] != recipe["target"].split("/")[0]  # two people
        assert recipe["size"] == 128 and recipe["ops"][-1]["op"].startswith("fusion/")
    fake = cv2.imread(str(out / "images" / names[0]))
    assert fake.shape == (128, 128, 3)
    preview = cv2.imread(str(out / "preview.png"))
    assert preview.shape[1] == 4 * 160 and preview.shape[0] > 6 * 160
    assert "wrote 6 of 6 fakes" in result.stderr


def test_same_seed_same_files_and_parallel_workers_agree(lfw_subset, lfw_run, tmp_path):
    out, _ = lfw_run
    synth("--real", str(lfw_subset), "--out", str(tmp_path), "--count", "6", "--seed", "9",
          "--size", "128", "--workers", "2")
    assert _files(tmp_path) == _files(out)


def test_the_default_pipeline_saved_and_read_back_makes_the_same_files(lfw_subset, lfw_run,
                                                                      tmp_path):
    out, _ = lfw_run
    pipeline = tmp_path / "pipeline.json"
    assert synth("--save-pipeline", str(pipeline)).returncode == 0  # alone: only writes it
    assert json.loads(pipeline.read_text())["format"] == "moderation.synth.pipeline"
    again = tmp_path / "again"
    synth("--real", str(lfw_subset), "--out", str(again), "--count", "6", "--seed", "9",
          "--size", "128", "--pipeline", str(pipeline))
    assert _files(again) == _files(out)
    bad = synth("--real", str(lfw_subset), "--out", str(again), "--pipeline",
                str(tmp_path / "missing.json"), check=False)
    assert bad.returncode != 0 and "missing.json: cannot be read" in bad.stderr


def test_replay_rebuilds_the_same_files(lfw_run, tmp_path):
    out, _ = lfw_run
    synth("--replay", str(out / "recipes.jsonl"), "--out", str(tmp_path))
    assert _files(tmp_path) == _files(out)


def test_self_blend_on_the_astronaut(astronaut_folder, tmp_path):
    synth("--real", str(astronaut_folder), "--out", str(tmp_path), "--count", "3", "--seed", "1",
          "--mode", "self")
    recipes = [json.loads(line) for line in (tmp_path / "recipes.jsonl").read_text().splitlines()]
    assert len(recipes) == 3 and {r["source"] for r in recipes} == {"astronaut.png"}
    fakes = [cv2.imread(str(tmp_path / r["extra"]["image"])) for r in recipes]
    assert not np.array_equal(fakes[0], fakes[1])


@pytest.fixture()
def folder_with_bad_inputs(tmp_path, astronaut):
    real = tmp_path / "real"
    for person in ("ann", "bob"):
        (real / person).mkdir(parents=True)
    cv2.imwrite(str(real / "ann" / "good.png"), astronaut)
    cv2.imwrite(str(real / "bob" / "good.png"), cv2.flip(astronaut, 1))
    (real / "bob" / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    cv2.imwrite(str(real / "bob" / "wall.png"), np.full((120, 120, 3), 200, np.uint8))
    cv2.imwrite(str(real / "ann" / "tiny.png"), cv2.resize(astronaut, (30, 30)))
    return real


def test_bad_inputs_are_skipped_and_counted(folder_with_bad_inputs, tmp_path):
    result = synth("--real", str(folder_with_bad_inputs), "--out", str(tmp_path / "out"),
                   "--count", "8", "--seed", "2")
    assert "wrote 8 of 8 fakes" in result.stderr
    skipped = result.stderr.split("skipped inputs:")[1]
    for reason in ("no_face", "too_small", "unreadable"):
        assert reason in skipped
    assert "Traceback" not in result.stderr


def test_strict_stops_at_the_first_bad_input(folder_with_bad_inputs, tmp_path):
    result = synth("--real", str(folder_with_bad_inputs), "--out", str(tmp_path / "out"),
                   "--count", "8", "--seed", "2", "--strict", check=False)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "Traceback" not in result.stderr


def test_missing_folder_is_a_clear_error(tmp_path):
    result = synth("--real", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o"), check=False)
    assert result.returncode == 2
    assert "nowhere: not a folder of face images" in result.stderr


def test_occlusion_maps_from_a_folder(astronaut_folder, astronaut, tmp_path):
    maps = tmp_path / "occlusion"
    maps.mkdir()
    occlusion = np.zeros(astronaut.shape[:2], np.uint8)
    occlusion[:, :] = 255  # a curtain over the whole photo: nothing may be pasted
    cv2.imwrite(str(maps / "astronaut.png"), occlusion)
    synth("--real", str(astronaut_folder), "--out", str(tmp_path / "out"), "--count", "2",
          "--mode", "self", "--occlusion", str(maps))
    recipe = json.loads((tmp_path / "out" / "recipes.jsonl").read_text().splitlines()[0])
    assert recipe["occlusion"]["kind"] == "given"
    mask = cv2.imread(str(tmp_path / "out" / "masks" / "000000.png"), cv2.IMREAD_GRAYSCALE)
    assert mask.max() == 0


@pytest.mark.slow
def test_precomputed_masks_from_a_folder(astronaut_folder, astronaut, tmp_path):
    masks = tmp_path / "masks"
    masks.mkdir()
    eyes_only = np.zeros(astronaut.shape[:2], np.uint8)
    eyes_only[90:130, 160:260] = 255  # a band over her eyes, no mouth or chin
    cv2.imwrite(str(masks / "astronaut.png"), eyes_only)
    args = ["--real", str(astronaut_folder), "--count", "1", "--mode", "self", "--seed", "5"]
    synth(*args, "--out", str(tmp_path / "hull"))
    synth(*args, "--out", str(tmp_path / "given"), "--masks", str(masks))
    recipe = json.loads((tmp_path / "given" / "recipes.jsonl").read_text())
    assert recipe["given_mask"]["kind"] == "given"
    hull = cv2.imread(str(tmp_path / "hull" / "masks" / "000000.png"), cv2.IMREAD_GRAYSCALE)
    given = cv2.imread(str(tmp_path / "given" / "masks" / "000000.png"), cv2.IMREAD_GRAYSCALE)
    rows_hull, rows_given = np.flatnonzero(hull.max(axis=1)), np.flatnonzero(given.max(axis=1))
    assert rows_given[-1] < rows_hull[-1] - 40  # the given band stops well above the chin
    synth("--replay", str(tmp_path / "given" / "recipes.jsonl"), "--out", str(tmp_path / "again"),
          "--masks", str(masks))
    assert (tmp_path / "again" / "images" / "000000.png").read_bytes() == (
        tmp_path / "given" / "images" / "000000.png").read_bytes()
