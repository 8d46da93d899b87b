"""Fakes on the fly for torch: same index, same fake; no files written."""

from __future__ import annotations

import json

import torch
from torch.utils.data import DataLoader

from moderation.config import get_settings
from moderation.synth.batch import FolderFakesFactory
from moderation.synth.dataset import SyntheticFakes


def _dataset(real, length=4):
    factory = FolderFakesFactory(real=real, cache_dir=get_settings().cache_dir, size=96,
                                 mode="self", seed=4)
    return SyntheticFakes(factory, length)


def test_items_are_tensors_and_repeatable(astronaut_folder, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    dataset = _dataset(astronaut_folder)
    item = dataset[2]
    assert item["image"].shape == (3, 96, 96) and item["image"].dtype == torch.float32
    assert 0.0 <= item["image"].min() and item["image"].max() <= 1.0
    assert item["mask"].shape == (1, 96, 96) and item["label"].item() == 1
    assert json.loads(item["recipe"])["extra"]["index"] == 2
    assert torch.equal(_dataset(astronaut_folder)[2]["image"], item["image"])
    assert not torch.equal(dataset[1]["image"], item["image"])
    assert list(tmp_path.iterdir()) == []


def test_works_in_dataloader_workers(astronaut_folder):
    loader = DataLoader(_dataset(astronaut_folder), batch_size=2, num_workers=2)
    batches = list(loader)
    assert len(batches) == 2 and batches[0]["image"].shape == (2, 3, 96, 96)
    assert len(batches[1]["recipe"]) == 2
