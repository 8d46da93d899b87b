"""Pieces shared by the two training scripts: time-boxed loop, batching, schedule, saving."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator

import numpy as np
import torch
from tqdm import tqdm


def to_tensor(images: list[np.ndarray], mean: list[float], std: list[float]) -> torch.Tensor:
    """BGR uint8 HxWx3 images -> normalised float NCHW (channels kept in BGR order)."""
    batch = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255.0
    return (batch - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)


def timed_steps(seconds: float, optimizer: torch.optim.Optimizer, base_lr: float,
                description: str) -> Iterator[tuple[int, Callable[[float], None]]]:
    """Yield (step, report) until ``seconds`` pass; cosine-decays the learning rate over time.

    ``report(loss)`` updates the progress bar, whose total is the time budget in seconds.
    """
    start = time.perf_counter()
    bar = tqdm(total=int(seconds), desc=description, unit="s")
    smoothed = None
    step = 0

    def report(loss: float) -> None:
        nonlocal smoothed
        smoothed = loss if smoothed is None else 0.95 * smoothed + 0.05 * loss
        elapsed = int(time.perf_counter() - start)
        bar.update(max(0, min(elapsed, int(seconds)) - bar.n))
        bar.set_postfix(step=step, loss=f"{smoothed:.4f}")

    while (elapsed := time.perf_counter() - start) < seconds:
        for group in optimizer.param_groups:
            group["lr"] = base_lr * 0.5 * (1 + math.cos(math.pi * elapsed / seconds))
        yield step, report
        step += 1
    bar.close()


def fit(model: torch.nn.Module, batch_loss: Callable[[], tuple[torch.Tensor, float]],
        seconds: float, lr: float, description: str) -> int:
    """The training loop both U-Nets share: AdamW with the learning rate cosine-decayed over
    ``seconds`` of wall time; ``batch_loss()`` draws a batch and returns its loss and the figure
    the progress bar shows. The number of steps taken."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps = 0
    for step, report in timed_steps(seconds, optimizer, lr, description):
        steps = step + 1
        model.train()
        loss, shown = batch_loss()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        report(shown)
    return steps


def save_trained(model: torch.nn.Module, config: dict, out_path, started: float, **summary):
    """Save ``model`` with ``config`` and a training summary (the model cards are written from
    it): the run's common facts plus the model's own ``summary`` (seed, data, metrics)."""
    from moderation.learned import unet

    training = {"seconds": round(time.perf_counter() - started), **summary,
                "parameters": unet.parameter_count(model)}
    unet.save_checkpoint(model, {**config, "training": training}, out_path)
    return training


def training_cli(description: str, train: Callable, card: str, weights, lfw) -> None:
    """The ``python -m moderation.learned.<model>`` command both models share: train for
    ``--seconds`` on one thread, save, and rewrite the model card when the shipped weights
    were replaced."""
    import argparse
    from pathlib import Path

    from moderation.learned.cards import write_card

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", default=str(weights))
    parser.add_argument("--seconds", type=float, default=420)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--root", default=str(lfw))
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(train(args.out, args.seconds, args.seed, args.root))
    if Path(args.out) == Path(weights):
        print(write_card(card))
