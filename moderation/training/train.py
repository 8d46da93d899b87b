"""The training loop of the method: train on real faces against synthetic fakes, test on real
deepfakes, and while the test AUC is under the target, add fakes of a wider recipe (new seeds)
and train again. No real deepfake is ever trained on.

Everything a run needs is in ``TrainConfig``; the resolved config is saved beside the
checkpoints (``config.json``), and so are the pipelines its fakes are drawn from
(``pipelines/<mode>_round<r>.json``); a run resumes from ``last.pt``, and each round's numbers go
to ``rounds.json`` and ``rounds.png``.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from moderation.detector.boundary import BoundaryModel, boundary_loss
from moderation.detector.checkpoint import DetectorConfig, load_checkpoint, save_checkpoint
from moderation.detector.preprocess import prepare
from moderation.detector.registry import build_model, model_spec
from moderation.errors import ConfigError
from moderation.faces.crops import CropGeometry
from moderation.synth.recipe import RECIPE_VERSION
from moderation.training.calibration import Calibration
from moderation.training.data import FramingJitter, SwapTrainingSet, save_pipelines
from moderation.training.faces_index import FaceIndex


@dataclass
class TrainConfig:
    index: Path
    real_root: Path | None  # only for an index of one photo folder made before sources
    out: Path
    devset: Path | None = None
    model: str = "mobilenet_v2"
    input_size: int | None = None  # the backbone's default when None
    margin: float = 0.3
    batch: int = 64
    steps_per_round: int = 1500
    rounds: int = 3
    target_auc: float = 0.9
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    self_blend_share: float = 0.5
    learned_fusion: float = 0.0  # share of fakes fused by moderation.learned's network
    boundary_weight: float = 0.0  # weight of the auxiliary boundary-map loss (0: no head)
    init: Path | None = None  # start from this checkpoint's weights (fine-tuning)
    freeze_blocks: int = 0  # the backbone's first N blocks keep their weights and statistics
    workers: int = 2
    seed: int = 0
    device: str = "auto"
    validation_samples: int = 512
    false_positive_rate: float = 0.02  # of held-out real faces flagged at the threshold
    video_false_positive_rate: float = 0.01  # of held-out real videos flagged at the threshold
    validation_share: float = 0.25  # of people held out (by a hash of the name)
    source_weights: dict[str, float] | None = None  # sampling weight per source (equal: None)
    framing: bool = True  # framing jitter (margins, shifts, borders) on both classes
    calibration_videos: list[Path] = field(default_factory=list)  # folders of real clips
    calibration_samples: int = 128  # frames sampled per held-out clip
    calibration_windows: int = 4  # short videos cut from each held-out clip
    source_baseline_samples: int = 400  # items the source-only baseline learns from (0: off)
    time_budget_s: float | None = None

    def to_dict(self) -> dict:
        return {k: _plain(v) for k, v in asdict(self).items()}


def _plain(value):
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


@dataclass
class RoundResult:
    round: int
    steps: int
    train_loss: float
    synthetic_auc: float | None
    threshold: float
    dev: dict = field(default_factory=dict)
    calibration: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def detector_config(config: TrainConfig) -> DetectorConfig:
    spec = model_spec(config.model)
    size = config.input_size or spec.input_size
    return DetectorConfig(model=config.model, input_size=size, mean=spec.mean, std=spec.std,
                          crop=CropGeometry(size=size, margin=config.margin),
                          recipe_version=RECIPE_VERSION)


def train(config: TrainConfig, settings=None) -> list[RoundResult]:
    """``settings`` configure the face scanner of the video calibration (defaults otherwise)."""
    from moderation.config import Settings

    settings = settings or Settings()
    device = _device(config.device)
    torch.manual_seed(config.seed)
    config.out.mkdir(parents=True, exist_ok=True)
    (config.out / "config.json").write_text(json.dumps(config.to_dict(), indent=2))
    save_pipelines(config.out, config.rounds, config.learned_fusion)
    index = FaceIndex.load(config.index, config.real_root)
    training_members, validation_members = index.split(config.validation_share)
    detector = detector_config(config)
    clips = _calibration_clips(config, index, validation_members, detector, settings)
    baseline = _source_baseline(config, index, training_members, detector)
    model = build_model(config.model)
    if config.init is not None:
        model.load_state_dict(_initial_weights(config.init, detector))
    frozen = freeze_blocks(model, config.freeze_blocks)
    trainee = model  # what the optimiser trains: the classifier, or it and a boundary head
    if config.boundary_weight > 0:
        trainee = BoundaryModel(model, config.model, detector.input_size)
    trainee = trainee.to(device).to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(trainee.parameters(), lr=config.learning_rate,
                                  weight_decay=config.weight_decay)
    total_steps = config.rounds * config.steps_per_round
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, config.learning_rate,
                                                   total_steps=total_steps, pct_start=0.05)
    rounds: list[RoundResult] = []
    history: list[tuple[int, float]] = []
    start_round = 0
    last = config.out / "last.pt"
    if last.is_file():  # resume
        _, state, extra = load_checkpoint(last)
        model.load_state_dict(state)
        if isinstance(trainee, BoundaryModel):
            if "boundary_head" not in extra:
                raise ConfigError(f"{last} was trained without the boundary head: resume with "
                                  f"the run's settings or start a new --out")
            trainee.head.load_state_dict(extra["boundary_head"])
        optimizer.load_state_dict(extra["optimizer"])
        schedule.load_state_dict(extra["schedule"])
        rounds = [RoundResult(**r) for r in json.loads(extra["rounds"])]
        history = [tuple(h) for h in json.loads(extra["history"])]
        start_round = len(rounds)
    deadline = time.monotonic() + config.time_budget_s if config.time_budget_s else math.inf
    for round_index in range(start_round, config.rounds):
        dataset = SwapTrainingSet(index, training_members, detector,
                                  config.steps_per_round * config.batch,
                                  seed=config.seed * 1000 + round_index, rounds=round_index + 1,
                                  self_blend_share=config.self_blend_share,
                                  learned_fusion=config.learned_fusion,
                                  with_boundary=isinstance(trainee, BoundaryModel),
                                  source_weights=config.source_weights,
                                  framing=FramingJitter() if config.framing else None)
        loss, steps = _train_round(trainee, optimizer, schedule, dataset, config, device, history,
                                   round_index, deadline, frozen)
        calibration, synthetic_auc = calibrate_model(model, index, validation_members, detector,
                                                     config, device, clips)
        detector.threshold = calibration.threshold
        done = (rounds[-1].steps if rounds else 0) + steps
        result = RoundResult(round_index, done, loss, synthetic_auc, detector.threshold,
                             calibration=calibration.to_dict())
        if config.devset is not None:
            result.dev = _dev_metrics(model, detector, config.devset, device,
                                      config.out / f"round{round_index}")
        rounds.append(result)
        detector.metrics = {"rounds": [r.to_dict() for r in rounds],
                            "calibration": calibration.to_dict(),
                            "real_sources": index.counts(), "source_baseline": baseline}
        detector.training = config.to_dict()
        state = {k: v.cpu() for k, v in model.state_dict().items()}
        save_checkpoint(config.out / f"round{round_index}.pt", detector, state)
        extra = {"optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
                 "rounds": json.dumps([r.to_dict() for r in rounds]),
                 "history": json.dumps(history)}
        if isinstance(trainee, BoundaryModel):
            extra["boundary_head"] = {k: v.cpu() for k, v in trainee.head.state_dict().items()}
        save_checkpoint(last, detector, state, extra)
        _write_report(config.out, rounds, history)
        auc = result.dev.get("video_auc")
        if auc is not None and auc >= config.target_auc:
            break
        if time.monotonic() > deadline:
            break
    return rounds


def _initial_weights(path: Path, detector: DetectorConfig) -> dict:
    """The weights of checkpoint ``path``, refused when its model or crop differ from the run's:
    fine-tuning on other inputs would quietly start from a mismatched model."""
    initial, state, _ = load_checkpoint(path)
    wanted = (detector.model, detector.input_size, detector.crop.margin)
    found = (initial.model, initial.input_size, initial.crop.margin)
    if found != wanted:
        raise ConfigError(f"{path}: checkpoint has model/input size/margin {found}, "
                          f"the run needs {wanted}")
    return state


def freeze_blocks(model, blocks: int) -> torch.nn.Module | None:
    """Freeze the first ``blocks`` of the backbone's ``features``: on this 2-core CPU the
    backward pass through the high-resolution early blocks is most of a step (freezing four of
    MobileNetV2's 19 makes a step 1.7 times faster), and they hold generic edge and texture
    filters that a fine-tune needs least."""
    if not blocks:
        return None
    features = getattr(model, "features", None)
    if not isinstance(features, torch.nn.Sequential) or blocks >= len(features):
        raise ConfigError(f"freeze_blocks={blocks}: the model has no sequence of that many "
                          "feature blocks")
    frozen = features[:blocks]
    for parameter in frozen.parameters():
        parameter.requires_grad_(False)
    return frozen


def _train_round(model, optimizer, schedule, dataset, config, device, history,
                 round_index, deadline: float, frozen=None) -> tuple[float, int]:
    """Train one round; it ends early at ``deadline`` (the run's time budget)."""
    loader = DataLoader(dataset, batch_size=config.batch, num_workers=config.workers,
                        pin_memory=device == "cuda", persistent_workers=False,
                        prefetch_factor=4 if config.workers else None,
                        worker_init_fn=_single_threaded,
                        multiprocessing_context=_worker_context(config.workers))
    model.train()
    if frozen is not None:
        frozen.eval()  # their batch-norm statistics stay those of the initial weights
    losses = []
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device == "cuda")
    progress = tqdm(loader, desc=f"round {round_index}", unit="batch")
    for step, (images, labels, *maps) in enumerate(progress):
        images = images.to(device, non_blocking=True).to(memory_format=torch.channels_last)
        labels = labels.to(device, non_blocking=True)
        with autocast:
            if maps:  # the boundary head's batch: (images, labels, boundary maps)
                logits, predicted = model(images)
                loss = torch.nn.functional.cross_entropy(logits, labels) + (
                    config.boundary_weight
                    * boundary_loss(predicted, maps[0].to(device, non_blocking=True)))
            else:
                loss = torch.nn.functional.cross_entropy(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if schedule.last_epoch < schedule.total_steps - 1:
            schedule.step()
        losses.append(loss.item())
        if step % 20 == 0:
            history.append((round_index * config.steps_per_round + step,
                            float(np.mean(losses[-20:]))))
            progress.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
        if time.monotonic() > deadline:
            break
    return float(np.mean(losses[-100:])), len(losses)


def _calibration_clips(config: TrainConfig, index: FaceIndex, members: np.ndarray,
                       detector: DetectorConfig, settings) -> list:
    """The held-out people's real clips, scanned once for every round's threshold."""
    from moderation.training.calibration import held_out_clips, scan_clips

    if not config.calibration_videos:
        return []
    clips = held_out_clips(config.calibration_videos, {str(index.keys[row]) for row in members})
    if not clips:
        raise ConfigError(f"no clip of {[str(f) for f in config.calibration_videos]} belongs to "
                          "a held-out person of the index: nothing to set the threshold on")
    return scan_clips(clips, settings, detector.crop, config.calibration_samples)


def _source_baseline(config: TrainConfig, index: FaceIndex, members: np.ndarray,
                     detector: DetectorConfig) -> dict:
    from moderation.training.shortcuts import source_baseline

    if not config.source_baseline_samples:
        return {}
    dataset = SwapTrainingSet(index, members, detector, config.source_baseline_samples,
                              seed=config.seed * 1000 + 999,
                              self_blend_share=config.self_blend_share,
                              source_weights=config.source_weights,
                              framing=FramingJitter() if config.framing else None)
    return source_baseline(dataset)


@torch.inference_mode()
def calibrate_model(model, index, members, detector, config, device,
                    clips: list) -> tuple[Calibration, float | None]:
    """Operating threshold and synthetic AUC on held-out people (never on the test clips).

    The threshold flags at most ``video_false_positive_rate`` of the held-out real videos
    (``clips``) and ``false_positive_rate`` of held-out real faces degraded like training."""
    from sklearn.metrics import roc_auc_score

    from moderation.training.calibration import calibrate

    model.eval()
    dataset = SwapTrainingSet(index, members, detector, config.validation_samples,
                              seed=10_000_019, rounds=1, self_blend_share=config.self_blend_share,
                              source_weights=config.source_weights)
    loader = DataLoader(dataset, batch_size=config.batch, num_workers=config.workers,
                        worker_init_fn=_single_threaded,
                        multiprocessing_context=_worker_context(config.workers))
    scores, labels = [], []
    # Making the held-out fakes takes a while (a soup's whole run, a round's last seconds).
    with tqdm(total=len(dataset), desc="calibrate", unit="face") as progress:
        for images, batch_labels in loader:
            scores.append(_scores(model, images, device))
            labels.append(batch_labels.numpy())
            progress.update(len(batch_labels))
    scores, labels = np.concatenate(scores), np.concatenate(labels)
    clip_scores = [(clip, _scores(model, prepare(clip.crops, detector), device)
                    if clip.crops else np.empty(0, np.float32)) for clip in clips]
    calibration = calibrate(clip_scores, scores[labels == 0],
                            windows=config.calibration_windows,
                            video_rate=config.video_false_positive_rate,
                            frame_rate=config.false_positive_rate)
    auc = float(roc_auc_score(labels, scores)) if len(set(labels)) == 2 else None
    model.train()
    return calibration, auc


def _scores(model, images: torch.Tensor, device: str) -> np.ndarray:
    scores = []
    for start in range(0, len(images), 128):
        batch = images[start:start + 128].to(device).to(memory_format=torch.channels_last)
        scores.append(torch.softmax(model(batch).float(), dim=1)[:, 1].cpu().numpy())
    return np.concatenate(scores) if scores else np.empty(0, np.float32)


def _dev_metrics(model, detector, devset: Path, device: str, out: Path) -> dict:
    """Video- and crop-level AUC on the cached evaluation set (real deepfakes)."""
    from moderation.training.devset import CachedScorer, split_items
    from moderation.training.evaluate import evaluate

    model.eval()
    scorer = CachedScorer(devset, model, detector, device)
    videos, crops = split_items(scorer.items())
    metrics = {}
    if videos:
        report = evaluate(scorer, videos, crops=False, out_dir=out / "videos")
        swap = report["tasks"]["swap"]
        metrics.update(video_auc=swap["video"]["auc"], video_ap=swap["video"]["ap"],
                       frame_auc=swap["frame"]["auc"], real_flagged=swap["real_flagged"],
                       caught=swap["caught"],
                       reenact_video_auc=report["tasks"]["reenact"]["video"]["auc"])
    if crops:
        report = evaluate(scorer, crops, crops=True, out_dir=out / "crops")
        metrics.update(crops_auc=report["tasks"]["swap"]["video"]["auc"])
    model.train()
    return metrics


def _write_report(out: Path, rounds: list[RoundResult], history) -> None:
    from moderation.training.plots import save_rounds

    (out / "rounds.json").write_text(json.dumps([r.to_dict() for r in rounds], indent=2))
    save_rounds([{"round": r.round, "synthetic auc": r.synthetic_auc,
                  "video auc": r.dev.get("video_auc"), "frame auc": r.dev.get("frame_auc")}
                 for r in rounds], out / "rounds.png",
                metrics=("synthetic auc", "video auc", "frame auc"))
    _save_curve(history, out / "training_curve.png")


def _save_curve(history, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 3.5))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    if history:
        steps, losses = zip(*history, strict=True)
        axes.plot(steps, losses)
    axes.set_xlabel("step")
    axes.set_ylabel("training loss (mean of 20 batches)")
    axes.set_yscale("log")
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def _worker_context(workers: int) -> str | None:
    """Data workers start from a fresh server process, not a fork of this one: once the face
    scanner and OpenCV's thread pool have run here (the video calibration), forked workers
    hang on locks their threads held at the fork."""
    return "forkserver" if workers else None


def _single_threaded(_worker: int) -> None:
    """Data workers are the parallelism: threads inside each would only fight over cores."""
    import cv2

    cv2.setNumThreads(1)
    torch.set_num_threads(1)


def _device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name

