"""RetinaFace (ResNet-50) with retinaface-pytorch's weights: finds smaller and more turned faces
than MTCNN, at a higher cost. Its weights are never downloaded here: they must be provided."""

from __future__ import annotations

import hashlib
import warnings
from collections import defaultdict
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import torch
from retinaface.box_utils import decode, decode_landm
from retinaface.network import RetinaFace
from retinaface.prior_box import priorbox
from torchvision.ops import nms

from moderation.config import Settings
from moderation.errors import ModelWeightsMissing
from moderation.faces.detection import (
    Detection,
    FaceDetector,
    min_face_side,
    register_detector,
)
from moderation.weights import load_weights

WEIGHTS_FILE = "retinaface_resnet50_2020-07-20-f168fae3c.zip"
# torch hub's convention: the file name carries the first hex digits of the file's sha256.
WEIGHTS_SHA256_PREFIX = "f168fae3c"
WEIGHTS_URL = f"https://github.com/ternaus/retinaface/releases/download/0.01/{WEIGHTS_FILE}"

# What those weights were trained with (retinaface-pytorch's predict_single and its config).
MIN_SIZES = [[16, 32], [64, 128], [256, 512]]
STEPS = [8, 16, 32]
VARIANCE = [0.1, 0.2]
MEAN_RGB = (0.485, 0.456, 0.406)
STD_RGB = (0.229, 0.224, 0.225)
NMS_IOU = 0.4
# Only the best anchors go to NMS: a low threshold would otherwise send every anchor there.
PRE_NMS_TOP_K = 5000
# Frames per forward pass, which bounds the activations' memory.
MAX_BATCH = 16


def build_network() -> RetinaFace:
    """The untrained network in the layout of the release weights' state dict."""
    with warnings.catch_warnings():
        # retinaface-pytorch passes torchvision's deprecated ``pretrained`` argument.
        warnings.simplefilter("ignore", UserWarning)
        return RetinaFace(name="Resnet50", pretrained=False,
                          return_layers={"layer2": 1, "layer3": 2, "layer4": 3},
                          in_channels=256, out_channels=256)


def hub_weights_path() -> Path:
    """Where ``torch.hub`` keeps the file once downloaded (``model_zoo.load_url``)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_FILE


def resolve_weights(settings: Settings, expected_sha256_prefix: str | None = None) -> Path:
    """The configured weights file, else the torch hub cache's, checked against its sha256.

    ``ModelWeightsMissing`` when it is absent or is not the expected file. The expected prefix
    is the release file's unless given (tests bring a file of their own).
    """
    if expected_sha256_prefix is None:
        expected_sha256_prefix = WEIGHTS_SHA256_PREFIX
    configured = settings.retinaface_weights
    path = hub_weights_path() if configured is None else configured.expanduser()
    if not path.is_file():
        raise _missing(f"RetinaFace weights not found at {path}", expected_sha256_prefix)
    with path.open("rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    if not digest.startswith(expected_sha256_prefix):
        raise _missing(f"{path} has sha256 {digest[:16]}..., not the expected weights",
                       expected_sha256_prefix)
    return path


def shrink(image: np.ndarray, max_side: int) -> np.ndarray:
    """``image`` with its longer side at most ``max_side``; the image itself when it fits."""
    height, width = image.shape[:2]
    scale = max_side / max(height, width)
    if scale >= 1:
        return image
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def preprocess(images: Sequence[np.ndarray]) -> torch.Tensor:
    """Same-sized BGR uint8 images as the network's input: an RGB float batch normalised with
    ImageNet's mean and std, as albumentations' ``Normalize`` did when the weights were trained."""
    batch = torch.from_numpy(np.stack(images)[..., ::-1].copy()).permute(0, 3, 1, 2).float()
    mean = torch.tensor(MEAN_RGB).view(1, 3, 1, 1) * 255
    std = torch.tensor(STD_RGB).view(1, 3, 1, 1) * 255
    return (batch - mean) / std


@lru_cache(maxsize=16)
def _priors(height: int, width: int) -> torch.Tensor:
    # Built in pure Python by retinaface-pytorch: worth keeping per frame size.
    return priorbox(min_sizes=MIN_SIZES, steps=STEPS, clip=False, image_size=(height, width))


@register_detector("retinaface")
class RetinaFaceDetector(FaceDetector):
    """RetinaFace on CPU; frames of one (shrunk) size share forward passes."""

    def __init__(self, settings: Settings, *, expected_sha256_prefix: str | None = None):
        self.settings = settings
        path = resolve_weights(settings, expected_sha256_prefix)
        state = load_weights(path, "RetinaFace weights file",
                             f"replace it with {WEIGHTS_FILE} from {WEIGHTS_URL}")
        self._net = build_network()
        try:
            self._net.load_state_dict(state)
        except RuntimeError as error:
            raise ModelWeightsMissing(
                f"{path} does not hold RetinaFace ResNet-50 weights ({error})") from error
        self._net.eval()

    def detect(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        for image in images:
            # A grey or RGBA array would otherwise run, with its axes misread.
            if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
                raise ValueError(f"expected an HxWx3 BGR uint8 image, got {image.dtype} "
                                 f"{image.shape}")
        results: list[list[Detection]] = [[] for _ in images]
        shrunk = [shrink(image, self.settings.detection_max_side) for image in images]
        by_size: dict[tuple[int, int], list[int]] = defaultdict(list)
        for index, small in enumerate(shrunk):
            by_size[small.shape[:2]].append(index)
        with torch.inference_mode():
            for (height, width), indices in by_size.items():
                priors = _priors(height, width)
                for start in range(0, len(indices), MAX_BATCH):
                    chunk = indices[start:start + MAX_BATCH]
                    loc, conf, landmarks = self._net(preprocess([shrunk[i] for i in chunk]))
                    scores = torch.softmax(conf, dim=-1)[..., 1]
                    for row, index in enumerate(chunk):
                        results[index] = self._decode(
                            loc[row], scores[row], landmarks[row], priors,
                            (height, width), images[index].shape[:2])
        return results

    def _decode(self, loc: torch.Tensor, scores: torch.Tensor, landmarks: torch.Tensor,
                priors: torch.Tensor, shrunk_size: tuple[int, int],
                original_size: tuple[int, int]) -> list[Detection]:
        """One image's detections, in its original pixels, best first, filtered."""
        keep = torch.nonzero(scores >= self.settings.face_score_threshold).squeeze(1)
        keep = keep[scores[keep].argsort(descending=True)[:PRE_NMS_TOP_K]]
        scores, priors = scores[keep], priors[keep]
        height, width = shrunk_size
        boxes = decode(loc[keep], priors, VARIANCE) * torch.tensor([width, height] * 2)
        points = decode_landm(landmarks[keep], priors, VARIANCE) * torch.tensor([width, height] * 5)
        kept = nms(boxes, scores, NMS_IOU)  # sorted by decreasing score

        original_height, original_width = original_size
        scale = torch.tensor([original_width / width, original_height / height])
        boxes = (boxes[kept].view(-1, 2, 2) * scale).view(-1, 4)
        boxes[:, 0::2] = boxes[:, 0::2].clamp(0, original_width)
        boxes[:, 1::2] = boxes[:, 1::2].clamp(0, original_height)
        points = points[kept].view(-1, 5, 2) * scale
        sides = torch.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        large = sides >= min_face_side(self.settings.min_face_px,
                                       self.settings.min_face_fraction, original_size)
        return [Detection(box.copy(), float(score), face_points.copy())
                for box, score, face_points in zip(boxes[large].numpy(),
                                                   scores[kept][large].tolist(),
                                                   points[large].numpy(), strict=True)]


def _missing(problem: str, expected_sha256_prefix: str) -> ModelWeightsMissing:
    return ModelWeightsMissing(
        f"{problem}. RetinaFace needs {WEIGHTS_FILE} (sha256 starting {expected_sha256_prefix}), "
        f"the retinaface-pytorch project's GitHub release 0.01: {WEIGHTS_URL}. Download it where "
        f"there is network access, then set MODERATION_RETINAFACE_WEIGHTS=/path/to/{WEIGHTS_FILE}, "
        f"or leave that unset and put the file in the torch hub cache as {hub_weights_path()}. "
        f"Nothing is downloaded at run "
        f"time; the default detector, mtcnn (MODERATION_FACE_DETECTOR=mtcnn), works offline.")
