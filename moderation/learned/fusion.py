"""A learned fusion: a compact U-Net harmonising face A into B, registered as ``fusion/learned``.

Importing this module registers the operation; the generator's registry imports it when a
pipeline or recipe names ``fusion/learned`` (``registry.PLUGINS``), so torch is loaded only
then. It is not part of the default pipeline (add it to a pipeline by name). The network sees
A, B and the soft mask at 128 px (7 channels) and predicts a correction of A; the correction is
smooth, so it is computed at 128 px and upsampled to the box while A keeps its full-resolution
detail. ``fuse`` returns ``mask * corrected_A + (1 - mask) * B``: B, bit for bit, wherever the
mask is 0.

Training is self-supervised on real LFW photos (``train_fusion``): A is the photo with a random
colour/brightness/contrast/gamma/lighting/blur change, B is the same photo with the masked
region replaced by another person's face (so the network cannot copy B inside), and the target
is the alpha blend of the *unchanged* photo into B: the original photo wherever the mask is 0
or 1. Learning to undo A's change from B's surroundings is what harmonisation asks.

    python -m moderation.learned.fusion --seconds 420   # retrain and overwrite the weights
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from moderation.errors import ConfigError
from moderation.learned import unet
from moderation.learned.faces import LFW, face_crop, list_faces
from moderation.learned.training import fit, save_trained, to_tensor, training_cli
from moderation.synth.functional.fusion import restrict_to_mask
from moderation.synth.ops.fusion import FusionOp
from moderation.weights import file_digest

WEIGHTS = Path(__file__).resolve().parent / "weights" / "fusion.pt"
CONFIG = {"arch": "unet", "in_channels": 7, "out_channels": 3, "widths": [16, 32, 64, 128],
          "input_size": 128, "channels": "BGR", "mean": [0.5, 0.5, 0.5],
          "std": [0.25, 0.25, 0.25], "inputs": ["A", "B", "mask"], "output": "residual on A"}

_MODELS: dict[str, tuple[torch.nn.Module, dict]] = {}


def load(weights: str | Path = WEIGHTS) -> tuple[torch.nn.Module, dict]:
    """The network and its config, loaded once per process and path."""
    key = str(weights)
    if key not in _MODELS:
        _MODELS[key] = unet.load_checkpoint(weights)
    return _MODELS[key]


def weights_digest(weights: str | Path = WEIGHTS) -> str:
    """The digest of the weights file (``moderation.weights.file_digest``) a recipe records."""
    return file_digest(weights)


def _inputs(sources, targets, masks, config) -> torch.Tensor:
    a = to_tensor(sources, config["mean"], config["std"])
    b = to_tensor(targets, config["mean"], config["std"])
    m = torch.from_numpy(np.stack(masks).astype(np.float32))[:, None]
    return torch.cat([a, b, m], dim=1)


@torch.inference_mode()
def harmonise(model, config, source: np.ndarray, target: np.ndarray,
              mask: np.ndarray) -> np.ndarray:
    """Fused float32 image (0-255) of one box: ``mask * (A + correction) + (1 - mask) * B``."""
    size = config["input_size"]
    height, width = target.shape[:2]
    small = [cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
             for image in (source, target, mask.astype(np.float32))]
    residual = model(_inputs([small[0]], [small[1]], [small[2]], config))[0]
    # Undo the normalisation's scale only: the residual is a difference of images.
    residual = residual * torch.tensor(config["std"]).view(3, 1, 1) * 255.0
    residual = residual.permute(1, 2, 0).numpy()
    residual = cv2.resize(residual, (width, height), interpolation=cv2.INTER_LINEAR)
    corrected = source.astype(np.float32) + residual
    weight = mask.astype(np.float32)[..., None]
    return weight * corrected + (1.0 - weight) * target.astype(np.float32)


@dataclass(kw_only=True)
class LearnedFusion(FusionOp):
    """Learned harmonisation (weights in ``moderation/learned/weights/fusion.pt``).

    Deterministic: nothing is drawn, so a recipe replays it exactly given the same weights. The
    recipe records which weights (``weights``: the file's digest, ``weights_digest``), and a
    replay with other weights is refused rather than rebuilding another fake.
    """

    name = "learned"
    margin = 8  # the network only sees the box; a little context of B around the mask helps

    def sample(self, rng, state):
        return {"weights": weights_digest()}  # draws nothing: later draws do not shift

    def fuse(self, source, target, mask, weights: str | None = None):
        # ``weights`` None: a recipe made before recipes recorded the weights.
        if weights is not None and weights != weights_digest():
            raise ConfigError(f"the recipe's learned fusion used weights {weights}; {WEIGHTS} "
                              f"is {weights_digest()}: restore those weights to replay it")
        model, config = load()
        fused = harmonise(model, config, source, target, mask)
        fused = np.clip(np.rint(fused), 0, 255).astype(np.uint8)
        return restrict_to_mask(fused, target, mask)


# -- training -----------------------------------------------------------------------------------

def random_mask(rng: np.random.Generator, size: int = 128) -> np.ndarray:
    """A soft face-region mask: a random ellipse, or the central face area, blurred edges."""
    hard = np.zeros((size, size), np.float32)
    if rng.random() < 0.5:  # where the framed face sits (no landmarks needed)
        centre = (size * (0.5 + rng.uniform(-0.04, 0.04)), size * (0.55 + rng.uniform(-0.04, 0.04)))
        axes = (size * rng.uniform(0.22, 0.3), size * rng.uniform(0.3, 0.38))
        angle = rng.uniform(-10, 10)
    else:
        centre = tuple(size * (0.5 + rng.uniform(-0.15, 0.15, 2)))
        axes = tuple(size * rng.uniform(0.12, 0.35, 2))
        angle = rng.uniform(0, 180)
    cv2.ellipse(hard, tuple(int(c) for c in centre), tuple(int(a) for a in axes), angle, 0, 360,
                1.0, -1)
    sigma = rng.uniform(1.0, 8.0)
    hard = cv2.erode(hard, np.ones((3, 3), np.uint8), iterations=int(sigma))
    soft = np.clip(cv2.GaussianBlur(hard, (0, 0), sigma), 0, 1)
    # Cut the Gaussian's far tail, so that B's own pixels (the context) start close to the edge.
    return np.where(soft < 0.02, 0, soft).astype(np.float32)


def perturb(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Colour gains, brightness, contrast, gamma, a lighting ramp and blur: A's mismatch with B."""
    x = image.astype(np.float32) / 255.0
    size = image.shape[0]
    x = x * rng.uniform(0.85, 1.15, 3).astype(np.float32)
    mean = x.mean()
    x = (x - mean) * rng.uniform(0.75, 1.3) + mean + rng.uniform(-0.12, 0.12)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size - 0.5
    angle = rng.uniform(0, 2 * np.pi)
    x = x + (rng.uniform(0, 0.15) * (xx * np.cos(angle) + yy * np.sin(angle)))[..., None]
    x = np.clip(x, 0, 1) ** rng.uniform(0.8, 1.25)
    if rng.random() < 0.4:
        x = cv2.GaussianBlur(x, (0, 0), rng.uniform(0.4, 1.5))
    return np.clip(x * 255.0, 0, 255).astype(np.uint8)


def make_sample(paths: list[Path], rng: np.random.Generator, size: int = 128):
    """(A, B, mask, target) uint8/float32 arrays at ``size``."""
    photo = face_crop(paths[rng.integers(len(paths))], rng, size)
    other = face_crop(paths[rng.integers(len(paths))], rng, size)
    mask = random_mask(rng, size)
    support = (mask > 0)[..., None]
    target_b = np.where(support, other, photo)
    source_a = perturb(photo, rng)
    weight = mask[..., None]
    truth = weight * photo.astype(np.float32) + (1 - weight) * target_b.astype(np.float32)
    return source_a, target_b, mask, truth


def validation_set(root: Path, count: int, seed: int = 12345):
    paths = list_faces(root, "val")
    rng = np.random.default_rng(seed)
    return [make_sample(paths, rng, CONFIG["input_size"]) for _ in range(count)]


def _composite(model, batch, config) -> torch.Tensor:
    """Differentiable version of ``harmonise`` at the network's size, in 0-1 units."""
    x = _inputs([b[0] for b in batch], [b[1] for b in batch], [b[2] for b in batch], config)
    a = torch.from_numpy(np.stack([b[0] for b in batch])).permute(0, 3, 1, 2).float() / 255
    b_img = torch.from_numpy(np.stack([b[1] for b in batch])).permute(0, 3, 1, 2).float() / 255
    m = x[:, 6:7]
    residual = model(x) * torch.tensor(config["std"]).view(1, 3, 1, 1)
    return m * (a + residual) + (1 - m) * b_img


@torch.inference_mode()
def evaluate(model, samples, config=CONFIG) -> dict[str, float]:
    """Mean absolute error (0-255) over pixels inside the mask's support, net vs alpha blending."""
    model.eval()
    net_err = alpha_err = count = 0.0
    for start in range(0, len(samples), 32):
        chunk = samples[start:start + 32]
        fused = _composite(model, chunk, config).clamp(0, 1).permute(0, 2, 3, 1).numpy() * 255
        for out, (a, b, m, truth) in zip(fused, chunk, strict=True):
            inside = m > 0
            w = m[..., None]
            alpha = w * a.astype(np.float32) + (1 - w) * b.astype(np.float32)
            net_err += float(np.abs(np.rint(out) - truth)[inside].sum())
            alpha_err += float(np.abs(np.rint(alpha) - truth)[inside].sum())
            count += 3 * float(inside.sum())
    return {"l1": net_err / count, "alpha_l1": alpha_err / count}


def train_fusion(out_path: str | Path = WEIGHTS, seconds: float = 420, seed: int = 0,
                 root: str | Path = LFW, batch_size: int = 12, lr: float = 3e-3,
                 val_count: int = 300) -> dict:
    """Train from scratch for ``seconds`` (wall time) and save weights + config to ``out_path``."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    root = Path(root)
    paths = list_faces(root, "train")
    val = validation_set(root, val_count)
    model = unet.build(CONFIG)
    # Start as the identity correction (alpha blending) and learn from there.
    torch.nn.init.zeros_(model.head.weight)
    torch.nn.init.zeros_(model.head.bias)
    started = time.perf_counter()

    def batch_loss() -> tuple[torch.Tensor, float]:
        batch = [make_sample(paths, rng, CONFIG["input_size"]) for _ in range(batch_size)]
        truth = torch.from_numpy(np.stack([b[3] for b in batch])).permute(0, 3, 1, 2) / 255
        mask = torch.from_numpy(np.stack([b[2] for b in batch]))[:, None]
        error = (_composite(model, batch, CONFIG) - truth).abs() * (mask > 0)
        loss = error.sum() / (3 * (mask > 0).sum().clamp(min=1))
        return loss, loss.item() * 255

    steps = fit(model, batch_loss, seconds, lr, "fusion")
    metrics = evaluate(model, val)
    return save_trained(model, CONFIG, out_path, started, seed=seed, steps=steps,
                        batch_size=batch_size, train_images=len(paths), val_samples=len(val),
                        val_l1=round(metrics["l1"], 3),
                        val_alpha_l1=round(metrics["alpha_l1"], 3))


def main() -> None:
    training_cli(__doc__.splitlines()[0], train_fusion, "fusion", WEIGHTS, LFW)


if __name__ == "__main__":
    main()
