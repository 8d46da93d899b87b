"""Figures for evaluation and training reports: ROC and PR curves, metrics per training round.

Figures are drawn on matplotlib's Agg canvas directly (no pyplot), so plotting works without a
display and never touches global plotting state shared with other threads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


@dataclass
class Curve:
    """One task's ROC and precision-recall curve, with the areas shown in the legend."""

    name: str
    fpr: np.ndarray
    tpr: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    auc: float
    ap: float


def save_curves(curves: Sequence[Curve], path_roc: Path, path_pr: Path) -> None:
    """Write the ROC curves to ``path_roc`` and the PR curves to ``path_pr`` as PNG, one line per
    task; with no curve at all the figures say so instead of staying blank."""
    roc, roc_axes = _figure("ROC", "false positive rate (real flagged)", "true positive rate")
    roc_axes.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    pr, pr_axes = _figure("Precision-recall", "recall", "precision")
    for curve in curves:
        roc_axes.plot(curve.fpr, curve.tpr, label=f"{curve.name} (AUC {curve.auc:.3f})")
        pr_axes.step(curve.recall, curve.precision, where="post",
                     label=f"{curve.name} (AP {curve.ap:.3f})")
    for axes in (roc_axes, pr_axes):
        axes.set(xlim=(0, 1), ylim=(0, 1.02))
        _finish(axes, bool(curves))
    _save(roc, path_roc)
    _save(pr, path_pr)


def save_rounds(rounds: Sequence[Mapping[str, float | None]], path: Path,
                metrics: Sequence[str] = ("auc", "ap")) -> None:
    """Plot ``metrics`` per training round: each entry of ``rounds`` has a ``round`` number and
    the metrics; a missing or None value leaves a gap in its line."""
    figure, axes = _figure("Metrics per round", "round", "value")
    numbers = [entry["round"] for entry in rounds]
    for metric in metrics:
        values = [np.nan if entry.get(metric) is None else entry[metric] for entry in rounds]
        axes.plot(numbers, values, marker="o", label=metric.upper())
    _finish(axes, bool(rounds))
    _save(figure, path)


def _figure(title: str, xlabel: str, ylabel: str):
    figure = Figure(figsize=(5, 4.5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.set(title=title, xlabel=xlabel, ylabel=ylabel)
    return figure, axes


def _finish(axes, has_data: bool) -> None:
    axes.grid(alpha=0.3)
    if has_data:
        axes.legend(loc="best", fontsize="small")
    else:
        axes.text(0.5, 0.5, "nothing to plot", ha="center", va="center",
                  transform=axes.transAxes)


def _save(figure: Figure, path: Path) -> None:
    figure.tight_layout()
    figure.savefig(path, format="png")
