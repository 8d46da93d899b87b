"""The fake generator: from two real faces to a fake, its mask and the recipe that rebuilds it."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from moderation.errors import ConfigError, InputError
from moderation.faces.landmarks import LandmarkDetector
from moderation.images import array_digest, check_size, read_image
from moderation.synth.compose import AppliedOp, run_node
from moderation.synth.framing import frame_face
from moderation.synth.functional.mask import boundary
from moderation.synth.pipeline import MODES, Pipeline, default_pipeline
from moderation.synth.recipe import Recipe
from moderation.synth.registry import get_op
from moderation.synth.state import SwapState


class OcclusionSegmenter(Protocol):
    """What the occlusion step needs from a learned segmenter (a later model plugs in here)."""

    name: str
    # Optional: the digest of its weights (``moderation.weights.file_digest``). A segmenter
    # that has one records it in the recipe, and a replay with other weights is refused.
    # digest: str

    def __call__(self, face: np.ndarray) -> np.ndarray:
        """Map of a BGR face: float32 of the face's height and width, 1 where it is occluded."""


# Segmenters by the name a recipe records -> "module:class". They need torch, so a module is
# imported only when its segmenter is chosen by name (``FakeGenerator(occlusion_model=NAME)``).
SEGMENTERS: dict[str, str] = {"occlusion-unet-v1": "moderation.learned.occlusion:OcclusionNet"}


def build_segmenter(name: str) -> OcclusionSegmenter:
    """The segmenter ``name`` (a key of ``SEGMENTERS``) with its shipped weights."""
    try:
        module, _, attribute = SEGMENTERS[name].partition(":")
    except KeyError:
        raise ConfigError(f"occlusion segmenter {name!r} is unknown; choose one of "
                          f"{sorted(SEGMENTERS)}") from None
    segmenter = getattr(importlib.import_module(module), attribute)()
    if segmenter.name != name:
        raise ConfigError(f"{SEGMENTERS[name]} is named {segmenter.name!r}, not {name!r}")
    return segmenter


@dataclass(frozen=True)
class FakeResult:
    fake: np.ndarray
    mask: np.ndarray
    recipe: Recipe
    source: np.ndarray
    target: np.ndarray

    @property
    def boundary(self) -> np.ndarray:
        return boundary(self.mask)


Image = str | Path | np.ndarray


class FakeGenerator:
    """Makes one fake from face A and face B with a seeded random pipeline.

    Usable on the fly (no disk) from a torch ``Dataset``: ``make`` takes arrays or paths.
    ``pipeline`` is a ``Pipeline`` (as read from a file) or a tree of operations; the default
    recipe of ``mode`` when None. ``occlusion_model`` is a segmenter, or the name of one in
    ``SEGMENTERS``.
    """

    def __init__(self, pipeline=None, mode: str = "pair", size: int = 256,
                 crop_scale: float | None = 2.0, detector: LandmarkDetector | None = None,
                 occlusion_model: OcclusionSegmenter | str | None = None, min_side: int = 64):
        if mode not in MODES:
            raise ConfigError(f"mode {mode!r}: expected one of {MODES}")
        if size < 32:
            raise ConfigError(f"size {size}: must be at least 32 px")
        self.mode = mode
        if isinstance(pipeline, Pipeline):
            pipeline = pipeline.root
        self.pipeline = pipeline if pipeline is not None else default_pipeline(mode)
        self.size, self.crop_scale, self.min_side = size, crop_scale, min_side
        self._detector = detector
        if isinstance(occlusion_model, str):
            occlusion_model = build_segmenter(occlusion_model)
        self.occlusion_model = occlusion_model

    @property
    def detector(self) -> LandmarkDetector:
        if self._detector is None:
            self._detector = LandmarkDetector()
        return self._detector

    def make(self, source: Image, target: Image | None = None, *, seed: int,
             source_landmarks: np.ndarray | None = None,
             target_landmarks: np.ndarray | None = None,
             source_id: str | None = None, target_id: str | None = None,
             occlusion: np.ndarray | None = None, mask: np.ndarray | None = None,
             framed: bool = False, landmark_source: str | None = None,
             extra: dict | None = None) -> FakeResult:
        """Make a fake of ``source`` (A) pasted into ``target`` (B).

        In ``self`` mode ``target`` may be omitted (B is A). Landmarks are measured when not
        given. ``framed=True`` says the images are already square at ``size`` with landmarks in
        those coordinates (the face bank prepares them so). ``occlusion`` (1 = occluded in B) is
        a float map in B's framed coordinates; ``mask`` (replacing the landmark hull) is one in
        A's framed coordinates and moves with A when A is aligned to B.
        ``landmark_source`` names where given landmarks came from, for the recipe.
        """
        if landmark_source is None:
            landmark_source = "given" if source_landmarks is not None else self.detector.model_id
        source_id = source_id or _describe(source, "source")
        if target is None:
            if self.mode != "self":
                raise ConfigError("a target face is required in pair mode")
            target, target_landmarks, target_id = source, source_landmarks, source_id
        target_id = target_id or _describe(target, "target")
        state, provenance = self._initial_state(source, target, source_landmarks,
                                                target_landmarks, source_id, target_id,
                                                occlusion, mask, framed)
        rng = np.random.default_rng(seed)
        log: list[AppliedOp] = []
        state = run_node(self.pipeline, state, rng, log, force=True)
        recipe = Recipe(seed=int(seed), mode=self.mode, source=source_id, target=target_id,
                        size=self.size, crop_scale=self.crop_scale,
                        landmarks=landmark_source,
                        ops=log, extra=dict(extra or {}), **provenance)
        return self._result(state, recipe)

    def replay(self, recipe: Recipe, source: Image, target: Image | None = None, *,
               source_landmarks: np.ndarray | None = None,
               target_landmarks: np.ndarray | None = None,
               occlusion: np.ndarray | None = None, mask: np.ndarray | None = None,
               framed: bool = False) -> FakeResult:
        """Rebuild the fake a recipe describes from the same two faces, bit for bit."""
        if (recipe.size, recipe.crop_scale) != (self.size, self.crop_scale):
            raise ConfigError(f"recipe was made at size {recipe.size}, crop_scale "
                              f"{recipe.crop_scale}; this generator uses {self.size}, "
                              f"{self.crop_scale}")
        if target is None:
            target, target_landmarks = source, source_landmarks
        state, provenance = self._initial_state(source, target, source_landmarks,
                                                target_landmarks, recipe.source, recipe.target,
                                                occlusion, mask, framed)
        _check_weights(recipe, provenance["occlusion"])
        for name, expected in (("occlusion", recipe.occlusion), ("given_mask", recipe.given_mask)):
            if provenance[name] != expected:
                raise ConfigError(f"recipe {recipe.source} -> {recipe.target}: the {name} map "
                                  f"differs from the one it was made with ({expected})")
        for applied in recipe.ops:
            state = get_op(applied.op)().apply(state, **applied.params)
        return self._result(state, recipe)

    def _initial_state(self, source, target, source_landmarks, target_landmarks, source_id,
                       target_id, occlusion, mask, framed):
        source_image, source_points = self._prepare(source, source_landmarks, source_id, framed)
        if target is source and target_landmarks is source_landmarks:
            target_image, target_points = source_image, source_points
        else:
            target_image, target_points = self._prepare(target, target_landmarks, target_id,
                                                        framed)
        provenance = {"occlusion": None, "given_mask": None}
        occlusion_map = None
        if occlusion is not None:
            occlusion_map = self._map(occlusion, "occlusion map")
            provenance["occlusion"] = {"kind": "given", "digest": array_digest(occlusion_map)}
        elif self.occlusion_model is not None:
            occlusion_map = self._map(self.occlusion_model(target_image), "occlusion model output")
            provenance["occlusion"] = {"kind": "model", "name": self.occlusion_model.name}
            digest = getattr(self.occlusion_model, "digest", None)
            if digest is not None:
                provenance["occlusion"]["weights"] = digest
        given_mask = None
        if mask is not None:
            given_mask = self._map(mask, "mask")
            provenance["given_mask"] = {"kind": "given", "digest": array_digest(given_mask)}
        state = SwapState(source=source_image, target=target_image,
                          source_landmarks=source_points, target_landmarks=target_points,
                          given_mask=given_mask, occlusion=occlusion_map)
        return state, provenance

    def _prepare(self, image: Image, landmarks, name: str, framed: bool):
        if not isinstance(image, np.ndarray):
            image = read_image(image, self.min_side)
        elif image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise InputError(name, f"expected a BGR uint8 image (H, W, 3), got {image.dtype} "
                                   f"{image.shape}")
        check_size(image, name, self.min_side)
        if landmarks is None:
            landmarks = self.detector(image, name)
        landmarks = np.asarray(landmarks, dtype=np.float32)
        if landmarks.shape != (68, 2):
            raise InputError(name, f"expected (68, 2) landmarks, got {landmarks.shape}")
        if framed:
            if image.shape[:2] != (self.size, self.size):
                raise InputError(name, f"framed image must be {self.size}x{self.size}, got "
                                       f"{image.shape[1]}x{image.shape[0]}")
            return image, landmarks
        return frame_face(image, landmarks, self.size, self.crop_scale)

    def _map(self, values: np.ndarray, what: str) -> np.ndarray:
        values = np.asarray(values, dtype=np.float32)
        if values.ndim == 3:
            values = values[..., 0]
        if values.ndim != 2:
            raise InputError(what, f"expected a 2-D map, got shape {values.shape}")
        if values.max(initial=0) > 1.0:
            values = values / 255.0
        if values.shape != (self.size, self.size):
            values = cv2.resize(values, (self.size, self.size), interpolation=cv2.INTER_LINEAR)
        return np.clip(values, 0.0, 1.0)

    @staticmethod
    def _result(state: SwapState, recipe: Recipe) -> FakeResult:
        if state.fake is None or state.mask is None:
            raise ConfigError("the pipeline has no mask and fusion step: nothing was made")
        return FakeResult(fake=state.fake, mask=np.clip(state.mask, 0.0, 1.0).astype(np.float32),
                          recipe=recipe, source=state.source, target=state.target)


def _check_weights(recipe: Recipe, occlusion: dict | None) -> None:
    """Refuse to replay a recipe whose occlusion model had other weights than this one's; a
    recipe made before recipes recorded weights is taken as it is (nothing to compare)."""
    expected = recipe.occlusion
    if not (expected and occlusion and expected.get("kind") == occlusion.get("kind") == "model"
            and expected.get("name") == occlusion.get("name")):
        return
    if "weights" not in expected:
        occlusion.pop("weights", None)
    elif expected["weights"] != occlusion.get("weights"):
        raise ConfigError(f"recipe {recipe.source} -> {recipe.target} was made with the "
                          f"occlusion model {expected['name']} of weights {expected['weights']}; "
                          f"this generator's are {occlusion.get('weights')}")


def _describe(image: Image, default: str) -> str:
    return default if isinstance(image, np.ndarray) else str(image)
