"""A learned occlusion segmenter for the generator's occlusion step.

``OcclusionNet`` follows ``moderation.synth.generator.OcclusionSegmenter``: it takes a BGR face
of any size, works at 128 px and returns a float32 map at the input size, 1 where something
covers the face. ``train_occlusion`` trains it from scratch on LFW faces with synthetic
occluders (``occluders.py``) and writes the weights and their config.

    python -m moderation.learned.occlusion --seconds 420   # retrain and overwrite the weights
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import torch

from moderation.learned import unet
from moderation.learned.faces import LFW, face_crop, list_faces
from moderation.learned.occluders import CLEAN_SHARE, SHADING_P, occlude
from moderation.learned.training import fit, save_trained, to_tensor, training_cli
from moderation.weights import file_digest

WEIGHTS = Path(__file__).resolve().parent / "weights" / "occlusion.pt"
CONFIG = {"arch": "unet", "in_channels": 3, "out_channels": 1, "widths": [16, 32, 64, 128],
          "input_size": 128, "channels": "BGR", "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25],
          "threshold": 0.5}


class OcclusionNet:
    """Occlusion map of a face: ``net(face_bgr) -> float32 HxW in [0, 1]``."""

    name = "occlusion-unet-v1"

    def __init__(self, weights: str | Path = WEIGHTS):
        self.model, self.config = unet.load_checkpoint(weights)
        self.weights = Path(weights)
        self.digest = file_digest(weights)  # recorded in the recipes of the fakes it masks

    @torch.inference_mode()
    def predict(self, faces: list[np.ndarray]) -> list[np.ndarray]:
        size = self.config["input_size"]
        resized = [cv2.resize(face, (size, size), interpolation=cv2.INTER_AREA) for face in faces]
        logits = self.model(to_tensor(resized, self.config["mean"], self.config["std"]))
        maps = torch.sigmoid(logits)[:, 0].numpy()
        return [cv2.resize(m, (face.shape[1], face.shape[0]), interpolation=cv2.INTER_LINEAR)
                .clip(0, 1).astype(np.float32) for m, face in zip(maps, faces, strict=True)]

    def __call__(self, face: np.ndarray) -> np.ndarray:
        if face.ndim != 3 or face.shape[2] != 3 or face.dtype != np.uint8:
            raise ValueError(f"expected a BGR uint8 face (H, W, 3), got {face.dtype} {face.shape}")
        return self.predict([face])[0]


def make_sample(paths: list[Path], rng: np.random.Generator, size: int = 128, **style):
    """An occluded face and its label; ``style`` goes to ``occlude`` (clean share, shading)."""
    face = face_crop(paths[rng.integers(len(paths))], rng, size)
    donor = face_crop(paths[rng.integers(len(paths))], rng, size)
    return occlude(face, rng, donor, **style)


def validation_set(root: Path, count: int, seed: int = 12345, **style):
    paths = list_faces(root, "val")
    rng = np.random.default_rng(seed)
    return [make_sample(paths, rng, CONFIG["input_size"], **style) for _ in range(count)]


@torch.inference_mode()
def evaluate(model: torch.nn.Module, samples, config=CONFIG) -> dict[str, float]:
    """IoU of the thresholded map, pooled over all samples (intersection / union summed)."""
    model.eval()
    inter = union = 0.0
    per_face = []
    for start in range(0, len(samples), 32):
        chunk = samples[start:start + 32]
        logits = model(to_tensor([s[0] for s in chunk], config["mean"], config["std"]))
        predicted = (torch.sigmoid(logits)[:, 0] > config["threshold"]).numpy()
        for pred, (_, label) in zip(predicted, chunk, strict=True):
            truth = label > 0.5
            i, u = float((pred & truth).sum()), float((pred | truth).sum())
            inter, union = inter + i, union + u
            if truth.any():
                per_face.append(i / u)
    return {"iou": inter / max(union, 1.0), "mean_face_iou": float(np.mean(per_face))}


def train_occlusion(out_path: str | Path = WEIGHTS, seconds: float = 420, seed: int = 0,
                    root: str | Path = LFW, batch_size: int = 12, lr: float = 3e-3,
                    val_count: int = 300) -> dict:
    """Train from scratch for ``seconds`` (wall time) and save weights + config to ``out_path``."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    root = Path(root)
    paths = list_faces(root, "train")
    val = validation_set(root, val_count)
    model = unet.build(CONFIG)
    bce = torch.nn.BCEWithLogitsLoss()
    started = time.perf_counter()

    def batch_loss() -> tuple[torch.Tensor, float]:
        batch = [make_sample(paths, rng, CONFIG["input_size"]) for _ in range(batch_size)]
        x = to_tensor([b[0] for b in batch], CONFIG["mean"], CONFIG["std"])
        y = torch.from_numpy(np.stack([b[1] for b in batch]))[:, None]
        logits = model(x)
        prob = torch.sigmoid(logits)
        dice = 1 - (2 * (prob * y).sum() + 1) / (prob.sum() + y.sum() + 1)
        loss = bce(logits, y) + dice
        return loss, loss.item()

    steps = fit(model, batch_loss, seconds, lr, "occlusion")
    metrics = evaluate(model, val)
    return save_trained(model, CONFIG, out_path, started, seed=seed, steps=steps,
                        batch_size=batch_size, train_images=len(paths), val_samples=len(val),
                        clean_share=CLEAN_SHARE, shading_p=SHADING_P,
                        val_iou=round(metrics["iou"], 4),
                        val_mean_face_iou=round(metrics["mean_face_iou"], 4))


def main() -> None:
    training_cli(__doc__.splitlines()[0], train_occlusion, "occlusion", WEIGHTS, LFW)


if __name__ == "__main__":
    main()
