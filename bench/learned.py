"""Benchmark of the learned models: faces per second of the occlusion net and of the learned
fusion operation at 128 and 256 px. Prints a table; run with `.venv/bin/python bench/learned.py`
(uses scikit-image's astronaut, no data needed). One thread by default: the generator runs one
process per core, and on this shared 2-core machine two torch threads in one process measured
5-25 times slower than one (threads wait on each other when the other core is busy)."""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np
import torch
from rich.console import Console
from rich.table import Table
from skimage import data

from moderation.faces.landmarks import LandmarkDetector
from moderation.learned.fusion import LearnedFusion
from moderation.learned.occlusion import OcclusionNet
from moderation.synth.framing import frame_face
from moderation.synth.functional.mask import hull_mask, soften
from moderation.synth.state import SwapState


def rate(function, seconds: float) -> float:
    function()  # warm-up: first call loads weights and allocates
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        function()
        count += 1
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="timing per row")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    astronaut = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    landmarks = LandmarkDetector()(astronaut, "astronaut")
    net, fusion = OcclusionNet(), LearnedFusion()
    table = Table(title=f"learned models, {args.threads} threads, batch of one face")
    for column in ("model", "size", "faces/s", "ms/face"):
        table.add_column(column, justify="right" if column != "model" else "left")
    for size in (128, 256):
        face, points = frame_face(astronaut, landmarks, size, 2.0)
        mask = soften(hull_mask(points, (size, size)), (size // 16) | 1)
        target = np.clip(face.astype(np.float32) * 0.8 + 20, 0, 255).astype(np.uint8)
        state = SwapState(source=face, target=target, source_landmarks=points,
                          target_landmarks=points, mask=mask)
        for name, function in ((OcclusionNet.name, lambda face=face: net(face)),
                               ("fusion/learned", lambda state=state: fusion.apply(state))):
            per_second = rate(function, args.seconds)
            table.add_row(name, f"{size}", f"{per_second:.1f}", f"{1000 / per_second:.1f}")
    Console().print(table)


if __name__ == "__main__":
    main()
