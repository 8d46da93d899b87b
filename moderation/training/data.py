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
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from moderation.detector.boundary import boundary_target
from moderation.detector.checkpoint import DetectorConfig
from moderation.detector.preprocess import prepare
from moderation.errors import ConfigError
from moderation.faces.crops import CropGeometry, crop_face, crop_matrix
from moderation.faces.detection import Detection
from moderation.images import read_image
from moderation.synth.compose import find_node
from moderation.synth.functional import degrade as D
from moderation.synth.generator import FakeGenerator
from moderation.synth.pipeline import MODES, Pipeline, default_pipeline
from moderation.training.faces_index import FaceIndex

WORK_SIZE = 256  # the generator's side; LFW photos are 250 px; indexed video regions 256


@dataclass(frozen=True)
class FramingJitter:
    """How far a training crop may differ from the checkpoint's framing, for both classes.

    The worker frames a detector box with a fixed margin, but uploads arrive as tight crops, as
    close-ups whose face fills the frame, or framed by another detector: a model that saw one
    framing learns it as "real". ``p`` of the crops get a margin drawn from ``margin`` (0 is a
    tight crop), a shift of the centre by up to ``shift`` of the face side, and, where the crop
    leaves the image, black borders or replicated edge pixels (``replicate_p``).
    """

    p: float = 0.8
    margin: tuple[float, float] = (0.0, 0.6)
    shift: float = 0.08
    replicate_p: float = 0.5

    def draw(self, geometry: CropGeometry, rng: np.random.Generator) -> tuple[float, float,
                                                                               float, int]:
        """(margin, shift x, shift y, border mode) of one crop."""
        border = cv2.BORDER_REPLICATE if rng.random() < self.replicate_p else cv2.BORDER_CONSTANT
        if rng.random() >= self.p:
            return geometry.margin, 0.0, 0.0, border
        dx, dy = rng.uniform(-self.shift, self.shift, 2)
        return float(rng.uniform(*self.margin)), float(dx), float(dy), border


def framed_crop(image: np.ndarray, box: np.ndarray, size: int, framing: tuple) -> np.ndarray:
    """``size`` px square crop of ``box`` with a drawn framing (see ``FramingJitter.draw``):
    the worker's crop geometry around the box moved by the drawn shift."""
    margin, dx, dy, border = framing
    face = float(max(box[2] - box[0], box[3] - box[1]))
    moved = np.float32(box) + np.float32([dx, dy, dx, dy]) * face
    matrix = crop_matrix(Detection(moved, 1.0), CropGeometry(size=size, margin=margin))
    # Area-like filtering when shrinking a lot: warpAffine alone would alias large faces.
    scale = matrix[0, 0]
    if scale < 0.5:
        factor = 0.5 / scale
        image = cv2.resize(image, None, fx=1 / factor, fy=1 / factor,
                           interpolation=cv2.INTER_AREA)
        matrix[:, :2] *= factor
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=border, borderValue=0)


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
    fakes fused by the learned network instead of the classical blends.

    The steps are found by name (``find_node``), so a recipe whose steps are reordered or
    nested differently widens the same way."""
    if not 0.0 <= learned_fusion <= 1.0:
        raise ConfigError(f"learned fusion share {learned_fusion!r}: must lie in [0, 1]")
    pipeline = default_pipeline(mode)
    if learned_fusion > 0:
        from moderation.learned.fusion import LearnedFusion

        fusions = find_node(pipeline, "fusion")
        classical = sum(child.p for child in fusions.children)
        # OneOf draws children in proportion to p (all in [0, 1]): rescale the classical ones.
        for child in fusions.children:
            child.p = child.p * (1.0 - learned_fusion) / classical
        fusions.children.append(LearnedFusion(p=learned_fusion))
    if round_index:
        degradations = find_node(pipeline, "degrade")
        degradations.n = (1, min(len(degradations.children), 3 + round_index))
        mask_steps = find_node(pipeline, "mask")
        for child in mask_steps.children:
            child.p = min(1.0, child.p + 0.1 * round_index)
    return pipeline


def save_pipelines(out: Path, rounds: int, learned_fusion: float = 0.0) -> list[Path]:
    """Write the pipeline of each mode and round a run draws its fakes from, as pipeline files
    (``out/pipelines/<mode>_round<r>.json``, readable by ``moderation synth --pipeline``)."""
    return [Pipeline(widened_pipeline(mode, round_index, learned_fusion)).save(
                Path(out) / "pipelines" / f"{mode}_round{round_index}.json")
            for mode in MODES for round_index in range(rounds)]


# The seeds' second key was an epoch counter that never left 0: kept, so that a seed draws the
# samples it always drew (and the shipped checkpoints' runs can be repeated).
_UNUSED_KEY = 0


class SwapTrainingSet(Dataset):
    """Item ``i`` is real when ``i`` is even, a fake when odd, drawn from ``seed`` and ``i``
    alone; each round builds its set with a seed of its own, so it sees new fakes. With
    ``with_boundary`` an item also carries its blending-boundary map (zeros for a real face) for
    the auxiliary head."""

    def __init__(self, index: FaceIndex, members: np.ndarray, config: DetectorConfig,
                 length: int, seed: int, rounds: int = 1, self_blend_share: float = 0.5,
                 candidates: int = 8, degradation: GlobalDegradation | None = None,
                 learned_fusion: float = 0.0, with_boundary: bool = False,
                 source_weights: dict[str, float] | None = None,
                 framing: FramingJitter | None = None):
        self.index, self.members, self.config = index, members, config
        self.length, self.seed, self.rounds = length, seed, rounds
        self.self_blend_share, self.candidates = self_blend_share, candidates
        self.learned_fusion, self.with_boundary = learned_fusion, with_boundary
        self.degradation = degradation or GlobalDegradation()
        # No jitter: every crop is framed exactly as the checkpoint frames (calibration).
        self.framing = framing or FramingJitter(p=0.0, replicate_p=0.0)
        self.weights = index.sampling_weights(members, source_weights)
        self.source_names = sorted(set(index.sources.tolist()))
        self.last_row = -1  # the index row framed by the latest sample (real, or fake's B)
        self.last_side = 0  # the longer side of that row's image as stored
        self._generators: dict[tuple[str, int], FakeGenerator] = {}
        self.geometry = CropGeometry(size=config.input_size, margin=config.crop.margin,
                                     align=config.crop.align)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, item: int):
        crop, label, mask, margin = self.sample(item)
        crop, flipped = self.degradation.apply(crop, np.random.default_rng(
            [self.seed, _UNUSED_KEY, item, 1]), margin)
        image = prepare([crop], self.config)[0].contiguous()
        if not self.with_boundary:
            return image, label
        if mask is not None and flipped:
            mask = mask[:, ::-1]
        return image, label, torch.from_numpy(boundary_target(mask, self.geometry.size))

    def sample(self, item: int) -> tuple[np.ndarray, int, np.ndarray | None, float]:
        """Item ``item`` before the global degradation: (crop, label, blending mask or None,
        the crop's margin)."""
        rng = np.random.default_rng([self.seed, _UNUSED_KEY, item])
        framing = self.framing.draw(self.geometry, rng)
        if item % 2 == 0:
            return self.real_crop(rng, framing), 0, None, framing[0]
        crop, _, mask = self.fake_sample(rng, framing)
        return crop, 1, mask, framing[0]

    def draw_member(self, rng: np.random.Generator) -> int:
        return int(rng.choice(self.members, p=self.weights))

    def real_crop(self, rng: np.random.Generator, framing: tuple | None = None) -> np.ndarray:
        row = self.last_row = self.draw_member(rng)
        image = read_image(self.index.path(row))
        self.last_side = max(image.shape[:2])
        return self._crop(image, self.index.boxes[row], framing)

    def _crop(self, image: np.ndarray, box: np.ndarray, framing: tuple | None) -> np.ndarray:
        if framing is None:
            return crop_face(image, Detection(box, 1.0), self.geometry)
        return framed_crop(image, box, self.geometry.size, framing)

    def fake_crop(self, rng: np.random.Generator):
        """A fake crop and the recipe that made it."""
        crop, recipe, _ = self.fake_sample(rng)
        return crop, recipe

    def fake_sample(self, rng: np.random.Generator, framing: tuple | None = None):
        """A fake crop, its recipe and its blending mask cropped alike (float32, 0 to 1)."""
        mode = "self" if rng.random() < self.self_blend_share else "pair"
        round_index = int(rng.integers(self.rounds))
        target = self.last_row = self.draw_member(rng)
        source = target if mode == "self" else self._partner(target, rng)
        target_image = read_image(self.index.path(target))
        self.last_side = max(target_image.shape[:2])
        source_image = target_image if source == target else read_image(
            self.index.path(source))
        scale_t = WORK_SIZE / np.float32(target_image.shape[1::-1])
        result = self._generator(mode, round_index).make(
            source_image, None if mode == "self" else target_image,
            seed=int(rng.integers(2**62)),
            source_landmarks=self.index.landmarks[source],
            target_landmarks=None if mode == "self" else self.index.landmarks[target],
            source_id=str(self.index.keys[source]), target_id=str(self.index.keys[target]),
            extra={"round": round_index, "source": str(self.index.sources[source]),
                   "target_source": str(self.index.sources[target]),
                   # the training crop's (margin, shift x, shift y, OpenCV border mode)
                   "framing": None if framing is None else [float(v) for v in framing]})
        box = self.index.boxes[target] * np.concatenate([scale_t, scale_t])
        # Outside the image nothing was blended, whatever the border of the picture.
        mask_framing = None if framing is None else framing[:3] + (cv2.BORDER_CONSTANT,)
        mask = self._crop(result.mask.astype(np.float32), box, mask_framing)
        return self._crop(result.fake, box, framing), result.recipe, mask

    def _partner(self, target: int, rng: np.random.Generator) -> int:
        """The candidate of another person whose landmark shape is nearest (Face X-ray)."""
        people = self.index.people
        picks = [int(p) for p in rng.choice(self.members, self.candidates * 2, p=self.weights)
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
