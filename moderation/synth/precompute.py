"""Measuring the landmarks of a whole folder once, in parallel, into its cache."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import cv2
from tqdm import tqdm

from moderation.config import Settings
from moderation.errors import InputError
from moderation.faces.landmarks import LandmarkDetector
from moderation.images import read_image
from moderation.synth.bank import FaceBank
from moderation.synth.landmarks import LandmarkCache

_detector: LandmarkDetector | None = None
_min_side = 1


def _init(upsample: int, min_side: int) -> None:
    global _detector, _min_side
    cv2.setNumThreads(1)
    _detector, _min_side = LandmarkDetector(upsample), min_side


def _measure(job: tuple[str, str]):
    cache_key, path = job
    try:
        return cache_key, _detector(read_image(path, _min_side), path)
    except InputError as exc:
        return cache_key, exc.problem


def precompute_landmarks(root: Path, settings: Settings, workers: int = 1) -> tuple[int, int]:
    """Measure every image of ``root`` not in the cache yet; return (with face, without)."""
    detector = LandmarkDetector(settings.landmark_upsample)
    bank = FaceBank(root, detector, settings.cache_dir, min_side=settings.min_image_px)
    jobs = []
    for key in bank.keys:
        path = bank.path(key)
        cache_key = LandmarkCache.entry_key(key, path.stat().st_size)
        if bank.cache.get(cache_key) is None:
            jobs.append((cache_key, str(path)))
    if jobs:
        if workers <= 1:
            _init(settings.landmark_upsample, settings.min_image_px)
            results = map(_measure, jobs)
            _store(bank, tqdm(results, total=len(jobs), desc="landmarks", unit="face"))
        else:
            context = multiprocessing.get_context("spawn")
            with context.Pool(workers, _init, (settings.landmark_upsample,
                                               settings.min_image_px)) as pool:
                results = pool.imap_unordered(_measure, jobs, chunksize=32)
                _store(bank, tqdm(results, total=len(jobs), desc="landmarks", unit="face"))
    return len(bank.cache.points), len(bank.cache.failures)


def _store(bank: FaceBank, results) -> None:
    for count, (cache_key, value) in enumerate(results, start=1):
        bank.cache.put(cache_key, value)
        if count % 2000 == 0:  # an interrupted run keeps most of its work
            bank.cache.save()
    bank.cache.save()
