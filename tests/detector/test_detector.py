"""The detector: registry, checkpoints, aggregation, a short training run, and the shipped
checkpoint on the shared crops."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from moderation.config import Settings
from moderation.detector.aggregate import sustained_window, swap_span, track_score, video_score
from moderation.detector.checkpoint import (
    DetectorConfig,
    load_checkpoint,
    read_config,
    save_checkpoint,
    state_digest,
)
from moderation.detector.inference import DEFAULT_CHECKPOINT, SwapDetector
from moderation.detector.registry import build_model, list_models, model_spec
from moderation.detector.scores import TrackScore
from moderation.errors import ConfigError, ModelWeightsMissing
from moderation.faces.crops import CropGeometry
from moderation.pipeline import MediaScorer, build_scanner
from tests.conftest import SHARED

CROPS = SHARED / "data" / "crops" / "dfdc"


@pytest.mark.parametrize("name", ["mobilenet_v2", "efficientnet_lite0"])
def test_registry_builds_models_with_their_imagenet_weights(name):
    assert name in list_models()
    model = build_model(name).eval()
    untrained = build_model(name, pretrained=False)
    first = next(iter(model.features.state_dict().values()))
    assert not torch.equal(first, next(iter(untrained.features.state_dict().values())))
    size = model_spec(name).input_size
    with torch.inference_mode():
        assert model(torch.zeros(2, 3, size, size)).shape == (2, 2)


def test_unknown_model_is_a_clear_error():
    with pytest.raises(ConfigError, match="model 'resnet9000' is unknown"):
        build_model("resnet9000")


def _config(**changes) -> DetectorConfig:
    spec = model_spec("mobilenet_v2")
    return DetectorConfig("mobilenet_v2", 160, spec.mean, spec.std, CropGeometry(size=160),
                          **changes)


def test_checkpoint_round_trip_carries_its_config(tmp_path):
    config = _config(threshold=0.8, metrics={"video_auc": 0.9})
    model = build_model("mobilenet_v2", pretrained=False)
    save_checkpoint(tmp_path / "a.pt", config, model.state_dict(), {"step": 3})
    loaded, state, extra = load_checkpoint(tmp_path / "a.pt")
    assert loaded == replace(config, weights=state_digest(model.state_dict()))
    assert extra["step"] == 3 and config.weights is None  # the caller's config is not changed
    with pytest.raises(ModelWeightsMissing, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelWeightsMissing, match="junk.pt is not a readable detector checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")


def test_read_config_gives_the_loaded_config_without_torch_or_tensors(tmp_path):
    config = _config(threshold=0.8, metrics={"video_auc": 0.9})
    save_checkpoint(tmp_path / "a.pt", config,
                    build_model("mobilenet_v2", pretrained=False).state_dict())
    # The config as loaded: with the digest of the weights it was saved with.
    assert read_config(tmp_path / "a.pt") == load_checkpoint(tmp_path / "a.pt")[0]
    assert read_config(tmp_path / "a.pt").threshold == config.threshold
    shipped = read_config(DEFAULT_CHECKPOINT)
    assert shipped == load_checkpoint(DEFAULT_CHECKPOINT)[0]
    # In a fresh interpreter: the shipped checkpoint's version, and torch never imported.
    probe = ("import sys; from moderation.detector.checkpoint import DEFAULT_CHECKPOINT, "
             "read_config; c = read_config(DEFAULT_CHECKPOINT); "
             "print(c.version, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, timeout=120).stdout.split()
    assert out == [shipped.version, "False"]


def test_read_config_refuses_missing_damaged_and_foreign_files(tmp_path):
    import pickle
    import zipfile

    with pytest.raises(ModelWeightsMissing, match="does not exist"):
        read_config(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelWeightsMissing, match="junk.pt is not a readable detector checkpoint"):
        read_config(tmp_path / "junk.pt")
    # A pickle that would run code when loaded is refused, and nothing runs.
    with zipfile.ZipFile(tmp_path / "evil.pt", "w") as archive:
        archive.writestr("evil/data.pkl", pickle.dumps(
            {"format": 1, "state_dict": {}, "config": subprocess.Popen}))
    with pytest.raises(ModelWeightsMissing, match="subprocess.Popen has no place"):
        read_config(tmp_path / "evil.pt")
    torch.save({"format": 1, "state_dict": {}, "config": {"model": "x"}}, tmp_path / "bad.pt")
    with pytest.raises(ConfigError, match="unreadable detector config"):
        read_config(tmp_path / "bad.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "foreign.pt")
    with pytest.raises(ConfigError, match="not a detector checkpoint of format 1"):
        read_config(tmp_path / "foreign.pt")

def _version(config: DetectorConfig, state: dict, tmp_path, name: str) -> str:
    save_checkpoint(tmp_path / name, config, state)
    return load_checkpoint(tmp_path / name)[0].version


def test_the_version_names_the_weights_and_preprocessing_not_the_metrics(tmp_path):
    state = build_model("mobilenet_v2", pretrained=False).state_dict()
    version = _version(_config(), state, tmp_path, "a.pt")
    # What does not change a score does not change the version.
    assert _version(_config(threshold=0.7, metrics={"video_auc": 0.5}, training={"seed": 1}),
                    state, tmp_path, "b.pt") == version
    # The weights and the preprocessing do.
    changed = {k: v.clone() for k, v in state.items()}
    changed["head.3.bias"] += 1e-3
    assert _version(_config(), changed, tmp_path, "c.pt") != version
    other_crop = replace(_config(), crop=CropGeometry(size=160, margin=0.2))
    assert _version(other_crop, state, tmp_path, "d.pt") != version
    # The layout tensors are kept in does not.
    channels_last = {k: v.to(memory_format=torch.channels_last) if v.dim() == 4 else v
                     for k, v in state.items()}
    assert state_digest(channels_last) == state_digest(state)
    with pytest.raises(ConfigError, match="not tied to weights"):
        _ = _config().version


def test_a_checkpoint_whose_tensors_were_replaced_is_refused(tmp_path):
    model = build_model("mobilenet_v2", pretrained=False)
    save_checkpoint(tmp_path / "a.pt", _config(), model.state_dict())
    data = torch.load(tmp_path / "a.pt", weights_only=True)
    data["state_dict"]["head.3.bias"] += 1.0
    torch.save(data, tmp_path / "a.pt")
    with pytest.raises(ConfigError, match="config records weights sha256:.*tensors are sha256:"):
        load_checkpoint(tmp_path / "a.pt")


def test_the_shipped_detector_version_derives_from_its_weights():
    config, state, _ = load_checkpoint(DEFAULT_CHECKPOINT)
    assert config.weights == state_digest(state) == (
        "sha256:df034ce378a881810a59865fddf32e56f869339fdf3cdcef6b45cc9542111000")
    assert config.version == "mobilenet_v2-7edf4cb5"  # named in MODEL_CARD.md


def _track(track, scores, side=150.0):
    return TrackScore(track, list(range(len(scores))), scores, side, track_score(scores, 32))


def test_video_aggregation():
    real = _track(0, [0.1] * 28 + [0.99] * 4)  # a few odd frames do not make a swap
    assert video_score([real], 32) < 0.6
    swapped = _track(1, [0.95] * 10)  # one confident swapped track is enough
    assert video_score([real, swapped], 32) == pytest.approx(0.95)
    background = _track(2, [0.99] * 12, side=40.0)  # small faces do not decide
    assert video_score([real, background], 32) < 0.6
    flash = _track(3, [0.99, 0.99])  # nor does a face seen twice
    assert video_score([real, flash], 32) < 0.6
    assert video_score([], 32) is None


def test_a_swap_filling_part_of_a_track_decides_it():
    """Real footage, then the same person's face swapped: the whole track's median (0.05)
    would call it real; its best quarter of the samples does not."""
    scores = [0.05] * 20 + [0.95] * 12
    assert float(np.median(scores)) == pytest.approx(0.05)
    assert track_score(scores, 32) == pytest.approx(0.95)
    score, first, last = sustained_window(scores, 32)
    assert (first, last) == (17, 24)  # the first run of 8 (a quarter of 32) at its best
    times = [0.5 * i for i in range(32)]
    assert swap_span(times, scores, 32, threshold=0.7) == (10.0, 15.5)
    assert swap_span(times, [0.05] * 32, 32, threshold=0.7) is None
    # A track shorter than the run is judged whole.
    assert sustained_window([0.2, 0.9, 0.9], 32) == (pytest.approx(0.9), 0, 2)


@pytest.mark.slow
def test_a_short_training_run_lowers_the_loss(lfw_subset):
    from moderation.training.data import SwapTrainingSet
    from moderation.training.faces_index import build_index

    index = build_index(lfw_subset, Settings(), limit=24, seed=0)
    config = _config()
    dataset = SwapTrainingSet(index, np.arange(len(index)), config, 16, seed=0)
    images, labels = zip(*(dataset[i] for i in range(16)), strict=True)
    images, labels = torch.stack(images), torch.tensor(labels)
    torch.manual_seed(0)
    model = build_model("mobilenet_v2").train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(12):
        loss = torch.nn.functional.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


@pytest.fixture(scope="module")
def shipped():
    detector = SwapDetector.load(DEFAULT_CHECKPOINT)
    return MediaScorer(detector, build_scanner(Settings(), detector))


@pytest.mark.shared
def test_the_shipped_checkpoint_loads_and_scores_the_shared_crops(shipped):
    if not CROPS.is_dir():
        pytest.skip(f"{CROPS} is absent: the shared crops are needed")
    assert shipped.detector.config.model == "mobilenet_v2" and 0.5 <= shipped.threshold < 1.0
    # the card's numbers travel with the weights: real sources, the video threshold, baseline
    metrics = shipped.detector.config.metrics
    assert set(metrics["real_sources"]) == {"lfw", "clips", "dfdc"}
    assert metrics["calibration"]["threshold"] == shipped.threshold
    assert metrics["calibration"]["video_false_positive_rate"] <= 0.01
    assert not metrics["source_baseline"]["leaks"]
    paths = sorted(CROPS.glob("*/*.png"))
    labels = [int(path.parent.name == "fake") for path in paths]
    scores = [shipped.score_path(path, crops=True).score for path in paths]
    assert all(0.0 <= score <= 1.0 for score in scores)
    assert roc_auc_score(labels, scores) > 0.6  # measured 0.942 (re-framed crops); chance 0.5


@pytest.mark.shared
def test_the_shipped_checkpoint_scores_development_crops_as_whole_images(shipped):
    dev = SHARED / "data" / "dev" / "dfdc-crops"
    if not dev.is_dir():
        pytest.skip(f"{dev} is absent: the development crops of ../shared are needed")
    real = [shipped.score_path(p) for p in sorted((dev / "real").iterdir())[:30]]
    fake = [shipped.score_path(p) for p in sorted((dev / "fake").iterdir())[:30]]
    scored = [r for r in real + fake if r.score is not None]
    assert len(scored) >= 50  # a tight crop's face is found (the padded second look)
    assert all(0.0 <= r.score <= 1.0 and r.faces >= 1 for r in scored)
    flagged = [r for r in real if r.score is not None and r.score >= shipped.threshold]
    assert len(flagged) <= 3  # measured 1.2% of all 500 flagged at the shipped threshold


def test_a_photo_is_scored_through_face_detection(shipped, astronaut, tmp_path):
    import cv2

    cv2.imwrite(str(tmp_path / "portrait.png"), astronaut)
    cv2.imwrite(str(tmp_path / "wall.png"), np.full((200, 200, 3), 90, np.uint8))
    portrait, wall = shipped.score_path(tmp_path / "portrait.png"), shipped.score_path(
        tmp_path / "wall.png")
    assert portrait.faces == 1 and portrait.label in ("real", "fake")
    assert (wall.faces, wall.score, wall.label) == (0, None, "no_face")


@pytest.mark.shared
def test_score_command_prints_one_json_line_per_input(tmp_path):
    if not CROPS.is_dir():
        pytest.skip(f"{CROPS} is absent: the shared crops are needed")
    paths = sorted(CROPS.glob("*/*.png"))[:3]
    missing = tmp_path / "missing.png"
    unreadable = tmp_path / "unreadable.png"
    unreadable.write_bytes(b"not an image")
    result = subprocess.run([sys.executable, "-m", "moderation", "score", "--crops", "--jsonl",
                             *map(str, paths[:2]), str(unreadable), str(paths[2]), str(missing)],
                            capture_output=True, text=True, timeout=300)
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["path"] for line in lines] == [str(p) for p in paths]
    assert all(set(line) == {"path", "score", "label", "faces"} for line in lines)
    assert result.returncode == 2 and "missing.png" in result.stderr
    assert "Traceback" not in result.stderr
    shown = result.stderr.replace("\r", "\n").splitlines()  # a bar over the inputs found
    assert any(line.startswith("score: 100%") and "4/4" in line for line in shown), shown
    # An error under the bar starts a line of its own.
    assert any(line.startswith("error: ") and "unreadable.png" in line for line in shown), shown


def test_the_frozen_model_is_kept_between_processes_and_scores_the_same(tmp_path, caplog):
    """With a cache folder the frozen model is saved once, keyed by the detector's version and
    the torch release, and a new detector reads it instead of tracing and freezing again; the
    scores are those of a detector that froze its own. A damaged file is frozen again."""
    rng = np.random.default_rng(0)
    crops = [rng.integers(0, 256, (160, 160, 3), dtype=np.uint8) for _ in range(5)]
    plain = SwapDetector.load().score_crops(crops)
    first = SwapDetector.load(cache_dir=tmp_path)
    np.testing.assert_array_equal(first.score_crops(crops), plain)
    path = first.frozen_path
    assert path.is_file() and path.name.startswith(first.version)
    written = path.stat().st_mtime_ns
    second = SwapDetector.load(cache_dir=tmp_path)
    np.testing.assert_array_equal(second.score_crops(crops), plain)
    assert path.stat().st_mtime_ns == written  # read, not frozen and written again
    path.write_bytes(b"not a TorchScript archive")
    third = SwapDetector.load(cache_dir=tmp_path)
    np.testing.assert_array_equal(third.score_crops(crops), plain)
    assert "could not be read: freezing it again" in caplog.text
    assert path.stat().st_size > 1000  # written again


def test_a_gpu_this_machine_lacks_is_a_setting_error_naming_the_variable():
    missing = f"cuda:{torch.cuda.device_count()}"  # one past the last device, if any
    with pytest.raises(ConfigError, match=f"MODERATION_DETECTOR_DEVICE={missing}"):
        SwapDetector.load(device=missing)
    with pytest.raises(ValueError, match="detector_device"):
        Settings(detector_device="tpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_on_a_gpu_the_detector_scores_as_on_the_cpu(tmp_path):
    rng = np.random.default_rng(0)
    crops = [rng.integers(0, 256, (160, 160, 3), dtype=np.uint8) for _ in range(70)]
    on_cpu = SwapDetector.load().score_crops(crops)
    on_gpu = SwapDetector.load(cache_dir=tmp_path, device="cuda")
    np.testing.assert_allclose(on_gpu.score_crops(crops), on_cpu, atol=1e-4)
    # Kept apart from the CPU's frozen model, and read back onto the GPU.
    assert "-cuda-" in on_gpu.frozen_path.name
    again = SwapDetector.load(cache_dir=tmp_path, device="cuda")
    np.testing.assert_allclose(again.score_crops(crops), on_cpu, atol=1e-4)
