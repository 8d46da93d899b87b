"""Training samples made on the fly: real faces and synthetic fakes, cropped as the worker crops
and degraded alike.

The lesson measured before this project: a detector trained with blur and resampling on the
fakes only learns "soft face = fake" and flags half of the real clips. Here every *global*
degradation (resolution, blur, JPEG, noise, colour) is drawn from one distribution for both
classes after the crop, so only the blend can tell them apart. The generator's own degradation
of face A (before blending) stays: it is what makes the blend inconsistent.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from moderation.detector.boundary import boundary_target
from moderation.detector.checkpoint import DetectorConfig
from moderation.detector.preprocess import prepare
from moderation.errors import ConfigError
from moderation.faces.crops import CropGeometry, crop_face
from moderation.faces.detection import Detection
from moderation.images import read_image
from moderation.synth.functional import degrade as D
from moderation.synth.generator import FakeGenerator
from moderation.synth.pipeline import default_pipeline
from moderation.training.faces_index import FaceIndex

WORK_SIZE = 256  # the generator's side; LFW photos are 250 px


@dataclass(frozen=True)
class GlobalDegradation:
    """One distribution of whole-crop degradations for real and fake alike."""

    resample_p: float = 0.5
    face_side: tuple[float, float] = (60.0, 160.0)  # face size the crop is brought down to
    jpeg_p: float = 0.5
    jpeg_quality: tuple[int, int] = (30, 95)
    blur_p: float = 0.2
    noise_p: float = 0.2
    colour_p: float = 0.3
    flip_p: float = 0.5

    def __call__(self, crop: np.ndarray, rng: np.random.Generator, margin: float) -> np.ndarray:
        return self.apply(crop, rng, margin)[0]

    def apply(self, crop: np.ndarray, rng: np.random.Generator,
              margin: float) -> tuple[np.ndarray, bool]:
        """The degraded crop and whether it was mirrored (the only change of geometry)."""
        if rng.random() < self.resample_p:
            # The face fills 1 / (1 + 2 margin) of the crop; shrink it to the drawn face side.
            face = crop.shape[0] / (1 + 2 * margin)
            scale = min(1.0, rng.uniform(*self.face_side) / face)
            crop = D.resample(crop, scale, "area", str(rng.choice(["linear", "cubic"])))
        if rng.random() < self.blur_p:
            crop = D.gaussian_blur(crop, int(rng.choice([3, 5])), float(rng.uniform(0.5, 1.5)))
        if rng.random() < self.noise_p:
            crop = D.gaussian_noise(crop, 0.0, float(rng.uniform(1, 6)), int(rng.integers(2**31)))
        if rng.random() < self.colour_p:
            gain, bias = rng.uniform(0.8, 1.2), rng.uniform(-20, 20)
            crop = D.to_uint8(crop.astype(np.float32) * gain + bias)
        if rng.random() < self.jpeg_p:
            crop = D.jpeg(crop, int(rng.integers(self.jpeg_quality[0], self.jpeg_quality[1] + 1)))
        flipped = rng.random() < self.flip_p
        if flipped:
            crop = np.ascontiguousarray(crop[:, ::-1])
        return crop, flipped


def widened_pipeline(mode: str, round_index: int, learned_fusion: float = 0.0):
    """Round 0 is the default recipe; later rounds draw more degradations of A at once and
    deform the mask more often (the method's "wider recipe"). ``learned_fusion`` is the share of
    fakes fused by the learned network instead of the classical blends."""
    if not 0.0 <= learned_fusion <= 1.0:
        raise ConfigError(f"learned fusion share {learned_fusion!r}: must lie in [0, 1]")
    pipeline = default_pipeline(mode)
    if learned_fusion > 0:
        from moderation.learned.fusion import LearnedFusion

        fusions = pipeline.children[-1]
        classical = sum(child.p for child in fusions.children)
        # OneOf draws children in proportion to p (all in [0, 1]): rescale the classical ones.
        for child in fusions.children:
            child.p = child.p * (1.0 - learned_fusion) / classical
        fusions.children.append(LearnedFusion(p=learned_fusion))
    if round_index:
        degradations = pipeline.children[1]
        degradations.n = (1, min(len(degradations.children), 3 + round_index))
        mask_steps = pipeline.children[3]
        for child in mask_steps.children:
            child.p = min(1.0, child.p + 0.1 * round_index)
    return pipeline


class SwapTrainingSet(Dataset):
    """Item ``i`` is real when ``i`` is even, a fresh fake when odd; ``epoch`` changes every
    draw, so each round sees new fakes made with new seeds. With ``with_boundary`` an item also
    carries its blending-boundary map (zeros for a real face) for the auxiliary head."""

    def __init__(self, index: FaceIndex, members: np.ndarray, config: DetectorConfig,
                 length: int, seed: int, rounds: int = 1, self_blend_share: float = 0.5,
                 candidates: int = 8, degradation: GlobalDegradation | None = None,
                 learned_fusion: float = 0.0, with_boundary: bool = False):
        self.index, self.members, self.config = index, members, config
        self.length, self.seed, self.rounds = length, seed, rounds
        self.self_blend_share, self.candidates = self_blend_share, candidates
        self.learned_fusion, self.with_boundary = learned_fusion, with_boundary
        self.degradation = degradation or GlobalDegradation()
        self.epoch = 0
        self._generators: dict[tuple[str, int], FakeGenerator] = {}
        self.geometry = CropGeometry(size=config.input_size, margin=config.crop.margin,
                                     align=config.crop.align)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, item: int):
        rng = np.random.default_rng([self.seed, self.epoch, item])
        if item % 2 == 0:
            crop, label, mask = self.real_crop(rng), 0, None
        else:
            crop, _, mask = self.fake_sample(rng)
            label = 1
        crop, flipped = self.degradation.apply(crop, rng, self.geometry.margin)
        image = prepare([crop], self.config)[0].contiguous()
        if not self.with_boundary:
            return image, label
        if mask is not None and flipped:
            mask = mask[:, ::-1]
        return image, label, torch.from_numpy(boundary_target(mask, self.geometry.size))

    def real_crop(self, rng: np.random.Generator) -> np.ndarray:
        row = int(rng.choice(self.members))
        image = read_image(self.index.root / self.index.keys[row])
        return crop_face(image, Detection(self.index.boxes[row], 1.0), self.geometry)

    def fake_crop(self, rng: np.random.Generator):
        """A fake crop and the recipe that made it."""
        crop, recipe, _ = self.fake_sample(rng)
        return crop, recipe

    def fake_sample(self, rng: np.random.Generator):
        """A fake crop, its recipe and its blending mask cropped alike (float32, 0 to 1)."""
        mode = "self" if rng.random() < self.self_blend_share else "pair"
        round_index = int(rng.integers(self.rounds))
        target = int(rng.choice(self.members))
        source = target if mode == "self" else self._partner(target, rng)
        target_image = read_image(self.index.root / self.index.keys[target])
        source_image = target_image if source == target else read_image(
            self.index.root / self.index.keys[source])
        scale_t = WORK_SIZE / np.float32(target_image.shape[1::-1])
        result = self._generator(mode, round_index).make(
            source_image, None if mode == "self" else target_image,
            seed=int(rng.integers(2**62)),
            source_landmarks=self.index.landmarks[source],
            target_landmarks=None if mode == "self" else self.index.landmarks[target],
            source_id=str(self.index.keys[source]), target_id=str(self.index.keys[target]),
            extra={"round": round_index})
        detection = Detection(self.index.boxes[target] * np.concatenate([scale_t, scale_t]), 1.0)
        mask = crop_face(result.mask.astype(np.float32), detection, self.geometry)
        return crop_face(result.fake, detection, self.geometry), result.recipe, mask

    def _partner(self, target: int, rng: np.random.Generator) -> int:
        """The candidate of another person whose landmark shape is nearest (Face X-ray)."""
        people = self.index.people
        picks = [int(p) for p in rng.choice(self.members, self.candidates * 2)
                 if people[p] != people[target]][: self.candidates]
        if not picks:
            return target
        shape = _shape(self.index.landmarks[target])
        distances = [np.linalg.norm(_shape(self.index.landmarks[p]) - shape) for p in picks]
        return picks[int(np.argmin(distances))]

    def _generator(self, mode: str, round_index: int) -> FakeGenerator:
        key = (mode, round_index)
        if key not in self._generators:
            # crop_scale None: the whole photo is resized to WORK_SIZE, so the detector's box
            # of B, scaled the same way, still frames the fake's face.
            pipeline = widened_pipeline(mode, round_index, self.learned_fusion)
            self._generators[key] = FakeGenerator(pipeline, mode=mode, size=WORK_SIZE,
                                                  crop_scale=None)
        return self._generators[key]


def _shape(points: np.ndarray) -> np.ndarray:
    centred = points - points.mean(axis=0)
    return centred / (np.linalg.norm(centred) + 1e-6)


def to_bgr(tensor: torch.Tensor, config: DetectorConfig) -> np.ndarray:
    """Undo ``prepare`` for pictures of training samples."""
    image = tensor.permute(1, 2, 0).numpy() * np.float32(config.std) + np.float32(config.mean)
    return cv2.cvtColor(np.clip(image * 255, 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR)
