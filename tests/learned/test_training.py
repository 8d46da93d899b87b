"""Both U-Nets train through the one loop (``learned.training.fit``): a short run on a few LFW
people saves weights that load back and a summary the model cards are written from."""

from __future__ import annotations

import pytest

from moderation.learned import unet
from moderation.learned.fusion import train_fusion
from moderation.learned.occlusion import train_occlusion

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("train,metric", [(train_occlusion, "val_iou"),
                                          (train_fusion, "val_l1")])
def test_a_short_run_trains_saves_and_summarises(train, metric, lfw_subset, tmp_path):
    out = tmp_path / "net.pt"
    summary = train(out, seconds=2, seed=0, root=lfw_subset, batch_size=2, val_count=2)
    assert summary["steps"] >= 1 and summary["seed"] == 0 and metric in summary
    model, config = unet.load_checkpoint(out)
    assert config["training"]["steps"] == summary["steps"]
    assert unet.parameter_count(model) == summary["parameters"]
