"""Benchmark of the swap detector: inference throughput, training samples per second, whole-clip
scoring time, and the shortcut check (real faces degraded must not be flagged). Prints tables;
run with `.venv/bin/python bench/detector.py` (needs ../shared)."""

from __future__ import annotations

import copy
import sys
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from moderation.config import Settings
from moderation.detector.inference import SwapDetector
from moderation.faces.crops import crop_face
from moderation.images import read_image
from moderation.pipeline import MediaScorer, build_scanner
from moderation.synth.bank import list_images
from moderation.training.evaluate import framing_check, shortcut_check

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
console = Console(width=120)  # keep the tables readable when piped


def real_faces(detector: MediaScorer, count: int,
               seed: int = 5) -> list[tuple[np.ndarray, np.ndarray]]:
    """(photo, face box) of LFW photos, the box found by the worker's face detector."""
    root = SHARED / "faces" / "lfw"
    keys = list_images(root)
    faces = []
    for i in np.random.default_rng(seed).permutation(len(keys)):
        image = read_image(root / keys[i])
        found = detector.scanner.detector.detect([image])[0]
        if found:
            faces.append((image, found[0]))
        if len(faces) == count:
            break
    return faces


def real_crops(detector: MediaScorer, count: int, seed: int = 5) -> list[np.ndarray]:
    """Face crops of LFW photos, cut the way the worker cuts them."""
    return [crop_face(image, face, detector.config.crop)
            for image, face in real_faces(detector, count, seed)]


def framing(detector: MediaScorer, count: int = 300) -> dict:
    """The framing check on LFW faces, re-framed as ``moderation score --crops`` re-frames."""
    from moderation.faces.crops import reframe_crop

    faces = [(image, face.box) for image, face in real_faces(detector, count)]
    return framing_check(detector, faces, lambda crop: reframe_crop(
        crop, detector.scanner.detector, detector.config.crop))


def training_rates(detector: SwapDetector, settings: Settings) -> dict[str, float]:
    """Samples per second of the model's training steps (alone, and with the boundary head) and
    of the data that feeds them (one process, reals and fresh fakes alternating)."""
    from moderation.detector.boundary import BoundaryModel, boundary_loss
    from moderation.training.data import SwapTrainingSet
    from moderation.training.faces_index import build_index
    from moderation.training.train import freeze_blocks

    rates = {}
    size = detector.config.input_size
    batch, labels = torch.randn(32, 3, size, size), torch.randint(0, 2, (32,))
    maps = torch.rand(32, size // 4, size // 4)
    for boundary, frozen in ((False, 0), (True, 0), (False, 4)):
        # A copy: the training steps change weights and batch-norm statistics.
        model = copy.deepcopy(detector.model).train()
        freeze_blocks(model, frozen)
        if boundary:
            model = BoundaryModel(model, detector.config.model, size)
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad],
                                      lr=1e-5)
        for step in range(6):
            if step == 1:  # the first step warms up (allocations, optimiser state): untimed
                start = time.perf_counter()
            if boundary:
                logits, predicted = model(batch)
                loss = (torch.nn.functional.cross_entropy(logits, labels)
                        + boundary_loss(predicted, maps))
            else:
                loss = torch.nn.functional.cross_entropy(model(batch), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        head = " with the boundary head" if boundary else ""
        head += f", first {frozen} blocks frozen (make train)" if frozen else ""
        rates[f"training steps{head}, samples/s (batch 32, model only)"] = (
            5 * 32 / (time.perf_counter() - start))

    index = build_index(SHARED / "faces" / "lfw", settings, limit=64, seed=0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in a training data worker (the learned fusion runs torch)
    for share in (0.0, 0.2):
        data = SwapTrainingSet(index, np.arange(len(index)), detector.config, 64, seed=0,
                               learned_fusion=share, with_boundary=True)
        data[1]  # warm-up: the first fake loads the models it needs
        start = time.perf_counter()
        for item in range(64):
            data[item]
        learned = f", learned fusion in {share:.0%} of fakes" if share else ""
        rates[f"training data, samples/s on one process{learned}"] = (
            64 / (time.perf_counter() - start))
    torch.set_num_threads(threads)
    return rates


def main() -> int:
    if not SHARED.is_dir():
        console.print(f"[red]{SHARED} is absent: the benchmark needs ../shared")
        return 2
    settings = Settings()
    loaded = SwapDetector.load(settings.detector_checkpoint)
    detector = MediaScorer(loaded, build_scanner(settings, loaded))
    crops = real_crops(detector, 300)

    table = Table(title=f"Detector {detector.version}: {detector.config.model} at "
                        f"{detector.config.input_size} px, threshold {detector.threshold:.3f}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    detector.score_crops(crops[:64])
    start = time.perf_counter()
    detector.score_crops(crops[:256])
    table.add_row("inference, face crops/s (batch 64, 2 threads)",
                  f"{256 / (time.perf_counter() - start):.0f}")

    clips = sorted((SHARED / "videos").glob("*.mp4"))
    start = time.perf_counter()
    for clip in clips:
        detector.score_video(clip)
    table.add_row("whole clip (decode, faces, scores), s on average over "
                  f"{len(clips)} shared clips", f"{(time.perf_counter() - start) / len(clips):.2f}")

    for name, rate in training_rates(detector.detector, settings).items():
        table.add_row(name, f"{rate:.0f}")
    console.print(table)

    check = shortcut_check(detector, crops, seed=0)
    table = Table(title=f"Shortcut check: {check['images']} real LFW faces, share flagged as "
                        f"fake at the operating threshold (aim <= {check['aim']:.0%})")
    table.add_column("degradation")
    table.add_column("flagged", justify="right")
    for name, share in check["flagged"].items():
        table.add_row(name, f"{share:.1%}")
    console.print(table)

    check = framing(detector)
    table = Table(title=f"Framing check: {check['images']} real LFW faces handed in framed four "
                        f"ways and re-framed; share flagged (aim <= {check['aim']:.0%}) and the "
                        f"90th percentile of a face's score swing (aim <= {check['swing_aim']})")
    table.add_column("framing")
    table.add_column("flagged", justify="right")
    for name, share in check["flagged"].items():
        table.add_row(name, f"{share:.1%}")
    table.add_row("score swing between framings, p90", f"{check['swing_p90']:.3f}")
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
