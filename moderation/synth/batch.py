"""Writing a folder of fakes (``moderation synth``) and rebuilding one from its recipes."""

from __future__ import annotations

import json
import multiprocessing
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from moderation.errors import ConfigError
from moderation.images import read_image, write_png
from moderation.synth.bank import FaceBank
from moderation.synth.folder import FolderFakes
from moderation.synth.generator import FakeResult
from moderation.synth.preview import preview_grid
from moderation.synth.recipe import Recipe, read_recipes

PREVIEW_ROWS = 8


@dataclass
class Summary:
    written: int = 0
    requested: int = 0
    skips: Counter = field(default_factory=Counter)
    seconds: float = 0.0

    def lines(self) -> list[str]:
        rate = self.written / self.seconds if self.seconds else 0.0
        lines = [f"wrote {self.written} of {self.requested} fakes in {self.seconds:.1f} s "
                 f"({rate:.1f}/s)"]
        if self.skips:
            lines.append("skipped inputs: " + ", ".join(
                f"{reason} {count}" for reason, count in sorted(self.skips.items())))
        return lines


def image_name(index: int) -> str:
    return f"{index:06d}.png"


def write_result(out: Path, name: str, result: FakeResult) -> None:
    write_png(out / "images" / name, result.fake)
    write_png(out / "masks" / name, np.clip(np.rint(result.mask * 255), 0, 255).astype(np.uint8))


# Each worker process builds its own FolderFakes once (dlib models are not picklable).
_worker_fakes: FolderFakes | None = None
_worker_out: Path | None = None


def _init_worker(build: Callable[[], FolderFakes], out: Path) -> None:
    global _worker_fakes, _worker_out
    cv2.setNumThreads(1)  # the processes are the parallelism; threads would oversubscribe
    _worker_fakes, _worker_out = build(), out


def _make_one(index: int):
    attempt = _worker_fakes.make(index)
    recipe = None
    if attempt.result is not None:
        name = image_name(index)
        attempt.result.recipe.extra["image"] = f"images/{name}"
        write_result(_worker_out, name, attempt.result)
        recipe = attempt.result.recipe.to_json()
    return index, recipe, attempt.skips, _worker_fakes.bank.cache.take_fresh()


def _replay_one(recipe_json: str):
    recipe = Recipe.from_dict(json.loads(recipe_json))
    result = _worker_fakes.replay(recipe)
    write_result(_worker_out, Path(recipe.extra["image"]).name, result)
    return recipe.extra["image"], recipe_json, Counter(), _worker_fakes.bank.cache.take_fresh()


def _run(build: Callable[[], FolderFakes], out: Path, function, items: list, workers: int,
         description: str) -> Iterator:
    """Run ``function`` over ``items`` in order, in this process or in ``workers`` processes."""
    if workers <= 1:
        _init_worker(build, out)
        yield from tqdm(map(function, items), total=len(items), desc=description, unit="fake")
        return
    context = multiprocessing.get_context("spawn")  # fork would copy dlib and thread state
    with context.Pool(workers, initializer=_init_worker, initargs=(build, out)) as pool:
        yield from tqdm(pool.imap(function, items, chunksize=8), total=len(items),
                        desc=description, unit="fake")


def _prepare_out(out: Path) -> None:
    for sub in ("images", "masks"):
        (out / sub).mkdir(parents=True, exist_ok=True)


def _collect(results: Iterable, fakes: FolderFakes, recipes_path: Path, summary: Summary):
    """Write recipes in index order as results arrive; merge landmarks measured by workers."""
    partial = recipes_path.with_name(recipes_path.name + ".partial")
    with partial.open("w") as recipes:
        for _, recipe_json, skips, fresh in results:
            summary.skips.update(skips)
            fakes.bank.cache.merge(fresh)
            if recipe_json is not None:
                recipes.write(recipe_json + "\n")
                summary.written += 1
    partial.replace(recipes_path)
    if fakes.bank.cache.fresh:
        fakes.bank.cache.save()


def generate(build: FolderFakesFactory, out: Path, count: int, workers: int) -> Summary:
    """Write ``count`` fakes, their masks, ``recipes.jsonl`` and ``preview.png`` into ``out``."""
    if count < 1:
        raise ConfigError(f"--count {count}: must be at least 1")
    out = Path(out)
    _prepare_out(out)
    fakes = build()
    summary = Summary(requested=count)
    start = time.perf_counter()
    results = _run(build, out, _make_one, list(range(count)), workers, "synth")
    _collect(results, fakes, out / "recipes.jsonl", summary)
    summary.seconds = time.perf_counter() - start
    write_preview(fakes, out)
    return summary


def replay(build: FolderFakesFactory, recipes_path: Path, out: Path, workers: int,
           real: Path | None = None) -> Summary:
    """Rebuild every fake listed in ``recipes_path`` into ``out`` under the same names.

    Mode, size and framing come from the recipes; the real faces from ``real``, else from the
    folder the recipes recorded."""
    recipes = read_recipes(recipes_path)
    if not recipes:
        raise ConfigError(f"{recipes_path}: contains no recipes")
    missing = [r for r in recipes if "image" not in r.extra]
    if missing:
        raise ConfigError(f"{recipes_path}: {len(missing)} recipes name no output image")
    first = recipes[0]
    build = replace(build, real=real or _root_of(recipes, recipes_path), mode=first.mode,
                    size=first.size, crop_scale=first.crop_scale)
    out = Path(out)
    _prepare_out(out)
    fakes = build()
    summary = Summary(requested=len(recipes))
    start = time.perf_counter()
    results = _run(build, out, _replay_one, [r.to_json() for r in recipes], workers, "replay")
    _collect(results, fakes, out / "recipes.jsonl", summary)
    summary.seconds = time.perf_counter() - start
    write_preview(fakes, out)
    return summary


def write_preview(fakes: FolderFakes, out: Path) -> None:
    rows = []
    for line in (out / "recipes.jsonl").read_text().splitlines()[:PREVIEW_ROWS]:
        recipe = Recipe.from_dict(json.loads(line))
        image = recipe.extra["image"]
        rows.append((fakes.bank.load(recipe.source).image, fakes.bank.load(recipe.target).image,
                     read_image(out / "masks" / Path(image).name), read_image(out / image)))
    if rows:
        write_png(out / "preview.png", preview_grid(rows))


def _root_of(recipes: list[Recipe], recipes_path: Path) -> Path:
    """The real-face folder the recipes were made from (recorded in each recipe)."""
    roots = {r.extra.get("root") for r in recipes}
    if len(roots) != 1 or None in roots:
        raise ConfigError(f"{recipes_path}: recipes name {len(roots)} source folders; pass --real")
    return Path(roots.pop())


@dataclass(frozen=True)
class FolderFakesFactory:
    """Everything needed to build a ``FolderFakes``; picklable, so each worker process (or
    DataLoader worker) builds its own detector and generator from it."""

    real: Path
    cache_dir: Path
    seed: int = 0
    mode: str = "pair"
    size: int = 256
    crop_scale: float | None = 2.0
    pairing: str = "random"
    candidates: int = 8
    strict: bool = False
    occlusion_dir: Path | None = None
    mask_dir: Path | None = None
    min_side: int = 64
    upsample: int = 0
    pipeline: Path | None = None  # a pipeline file; the built-in recipe of ``mode`` when None

    def __call__(self) -> FolderFakes:
        from moderation.faces.landmarks import LandmarkDetector
        from moderation.synth.generator import FakeGenerator
        from moderation.synth.pipeline import Pipeline

        detector = LandmarkDetector(upsample=self.upsample)
        bank = FaceBank(self.real, detector, self.cache_dir, size=self.size,
                        crop_scale=self.crop_scale, min_side=self.min_side)
        pipeline = Pipeline.load(self.pipeline) if self.pipeline else None
        generator = FakeGenerator(pipeline, mode=self.mode, size=self.size,
                                  crop_scale=self.crop_scale, detector=detector,
                                  min_side=self.min_side)
        return FolderFakes(bank, generator, seed=self.seed, pairing=self.pairing,
                           candidates=self.candidates, strict=self.strict,
                           occlusion_dir=self.occlusion_dir, mask_dir=self.mask_dir)
