"""Benchmark of the fake generator: landmark extraction, fakes per second per core and on two
cores, per operation family. Prints tables; run with `make bench` (needs ../shared)."""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
from rich.console import Console
from rich.table import Table

from moderation.config import Settings
from moderation.errors import InputError
from moderation.faces.landmarks import LandmarkDetector
from moderation.images import read_image
from moderation.synth.bank import FaceBank
from moderation.synth.batch import FolderFakesFactory, generate
from moderation.synth.generator import FakeGenerator
from moderation.synth.registry import get_op
from moderation.synth.state import SwapState

LFW = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "faces" / "lfw"
console = Console()


def landmark_rates(keys: list[str], bank_root: Path) -> list[tuple[str, float, int]]:
    rows = []
    images = [read_image(bank_root / key) for key in keys]
    for upsample in (0, 1):
        detector = LandmarkDetector(upsample)
        found = 0
        start = time.perf_counter()
        for image in images:
            try:
                detector(image)
                found += 1
            except InputError:
                pass
        rows.append((f"dlib 68 points, upsample {upsample}",
                     len(images) / (time.perf_counter() - start), found))
    return rows


def load_faces(bank: FaceBank, count: int, seed: int):
    rng = np.random.default_rng(seed)
    faces = []
    while len(faces) < count:
        try:
            faces.append(bank.load(bank.keys[int(rng.integers(len(bank)))]))
        except InputError:
            continue
    return faces


def pairs(faces, count: int):
    for index in range(count):
        yield index, faces[index % len(faces)], faces[(index * 7 + 3) % len(faces)]


def generator_rate(args) -> float:
    """Fakes per second of one process over preloaded faces (landmarks known)."""
    root, cache_dir, size, count, seed = args
    cv2.setNumThreads(1)
    bank = FaceBank(root, LandmarkDetector(), cache_dir, size=size)
    faces = load_faces(bank, 64, seed)
    generator = FakeGenerator(size=size, detector=bank.detector)
    start = time.perf_counter()
    for index, a, b in pairs(faces, count):
        generator.make(a.image, b.image, seed=index, source_landmarks=a.landmarks,
                       target_landmarks=b.landmarks, framed=True)
    return count / (time.perf_counter() - start)


def operation_costs(root: Path, cache_dir: Path, size: int, count: int):
    """Replays fakes operation by operation and times each one."""
    cv2.setNumThreads(1)
    bank = FaceBank(root, LandmarkDetector(), cache_dir, size=size)
    faces = load_faces(bank, 64, 1)
    generator = FakeGenerator(size=size, detector=bank.detector)
    seconds = defaultdict(list)
    for index, a, b in pairs(faces, count):
        recipe = generator.make(a.image, b.image, seed=index, source_landmarks=a.landmarks,
                                target_landmarks=b.landmarks, framed=True).recipe
        state = SwapState(a.image, b.image, a.landmarks, b.landmarks)
        for applied in recipe.ops:
            op = get_op(applied.op)()
            start = time.perf_counter()
            state = op.apply(state, **applied.params)
            seconds[applied.op].append(time.perf_counter() - start)
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=600, help="fakes per measurement")
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()
    if not LFW.is_dir():
        console.print(f"[red]{LFW} is absent: the benchmark needs the real faces of ../shared")
        return 2
    cache_dir = Path(os.environ.get("MODERATION_CACHE_DIR", Settings().cache_dir))
    console.print(f"{os.cpu_count()} cores; {args.count} fakes per measurement at {args.size} px")

    bank = FaceBank(LFW, LandmarkDetector(), cache_dir, size=args.size)
    rng = np.random.default_rng(0)
    sample = [bank.keys[int(i)] for i in rng.choice(len(bank), 200, replace=False)]
    table = Table(title="Landmark extraction (LFW 250 px, one process)")
    for column in ("detector", "faces/s", "found"):
        table.add_column(column)
    for name, rate, found in landmark_rates(sample, LFW):
        table.add_row(name, f"{rate:.1f}", f"{found}/{len(sample)}")
    console.print(table)

    seconds = operation_costs(LFW, cache_dir, args.size, args.count)
    table = Table(title="Cost per operation (one process; share = ms per average fake)")
    for column in ("step", "operation", "runs", "ms per run", "share ms/fake"):
        table.add_column(column)
    families = defaultdict(float)
    for key, values in sorted(seconds.items()):
        step, name = key.split("/")
        share = sum(values) / args.count * 1000
        families[step] += share
        table.add_row(step, name, str(len(values)), f"{np.mean(values) * 1000:.2f}", f"{share:.2f}")
    console.print(table)
    table = Table(title="Per operation family")
    for column in ("step", "ms per fake", "fakes/s if alone"):
        table.add_column(column)
    for step, share in families.items():
        table.add_row(step, f"{share:.2f}", f"{1000 / share:.0f}")
    console.print(table)

    table = Table(title="Fakes per second, full random recipe (pair mode, landmarks known)")
    for column in ("setting", "fakes/s", "per core"):
        table.add_column(column)
    one = generator_rate((LFW, cache_dir, args.size, args.count, 1))
    table.add_row("in memory, 1 process", f"{one:.1f}", f"{one:.1f}")
    # Rates are timed inside each process (loading excluded); their sum is the two-core rate.
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        rates = pool.map(generator_rate, [(LFW, cache_dir, args.size, args.count, s)
                                          for s in (1, 2)])
    table.add_row("in memory, 2 processes", f"{sum(rates):.1f}", f"{sum(rates) / 2:.1f}")
    with tempfile.TemporaryDirectory() as out:
        factory = FolderFakesFactory(real=LFW, cache_dir=cache_dir, size=args.size)
        generate(factory, Path(out), 300, workers=2)  # warm the landmark cache
        summary = generate(factory, Path(out), args.count, workers=2)
    rate = summary.written / summary.seconds
    table.add_row("`moderation synth --workers 2` (JPEG in, PNG out)", f"{rate:.1f}",
                  f"{rate / 2:.1f}")
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
